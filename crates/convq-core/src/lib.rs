//! convq-core (work in progress)
pub mod catalog;
