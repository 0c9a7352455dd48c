//! Vector cases from `crypto.json` (being written).
