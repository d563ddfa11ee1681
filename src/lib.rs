//! crm-mart: a star-schema mart of sales and customer-contact history on Delta Lake, with OLAP
//! queries, customer models and decision reports on top.
//!
//! Follow the data flow to find a feature: [`etl`] loads sources into the [`mart`]; [`query`]
//! answers questions over it; the
//! [`sample`] generator makes realistic sources with planted patterns.

pub mod basket;
pub mod config;
pub mod crm;
pub mod error;
pub mod etl;
pub mod mart;
pub mod ml;
pub mod pipeline;
pub mod query;
pub mod recommend;
pub mod report;
pub mod sample;
pub mod util;
