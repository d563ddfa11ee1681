//! Integration tests: one binary, grouped by area.

mod basket;
mod cli;
mod common;
mod crash;
#[cfg(feature = "distributed")]
mod distributed;
mod etl;
mod exports;
mod formats;
mod generate;
mod invoice;
mod models;
mod nightly;
mod operations;
mod query;
mod reader;
mod recommend;
mod reliability;
mod shell;
mod value;
