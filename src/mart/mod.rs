//! The star-schema mart: its contract, and reading and committing its Delta tables.

pub mod catalog;
pub mod delta;
pub mod engine;
mod reads;
pub mod schema;
