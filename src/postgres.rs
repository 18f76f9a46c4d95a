//! The postgres backend (being written).
