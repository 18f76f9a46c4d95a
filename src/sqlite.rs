//! The sqlite backend (being written).
