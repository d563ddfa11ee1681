//! Customer models over the mart: features as of a date, segmentation (RFM and k-means), churn
//! prediction, and the registry of trained model artifacts.

pub mod churn;
pub mod features;
pub mod metrics;
pub mod segment;
