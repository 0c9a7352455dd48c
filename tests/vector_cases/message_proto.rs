//! Vector cases from `message-proto.json` (being written).
