//! Vector cases from `qr.json` (being written).
