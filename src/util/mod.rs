//! Helpers every layer uses: dates as epoch days, and files (atomic writes, exclusive locks).

pub mod dates;
pub mod fs;
