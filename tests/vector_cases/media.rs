//! Vector cases from `media.json` (being written).
