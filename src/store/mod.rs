//! The store layer: the only module that touches redb.

pub mod signal;
