//! Vector cases from `noise.json` (being written).
