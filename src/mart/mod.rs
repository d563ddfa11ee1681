//! The star-schema mart: its contract, and reading and committing its Delta tables.

pub mod delta;
pub mod schema;
