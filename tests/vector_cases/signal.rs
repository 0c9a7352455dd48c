//! Vector cases from `signal.json` (being written).
