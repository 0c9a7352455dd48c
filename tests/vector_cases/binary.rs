//! Vector cases from `binary-nodes.json` (being written).
