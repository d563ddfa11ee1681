//! Market-basket analysis: frequent itemsets by FP-Growth and association rules.

pub mod fpgrowth;
pub mod input;
pub mod rules;

/// A support threshold given as a fraction of the transactions (< 1) or a count (≥ 1), as a count:
/// the smallest count whose support is at least the fraction.
pub fn min_count(min_support: f64, transactions: usize) -> u64 {
    if min_support >= 1.0 {
        min_support.ceil() as u64
    } else {
        // ceil with a tolerance for the binary representation of the fraction
        ((min_support * transactions as f64) - 1e-9).ceil().max(1.0) as u64
    }
}
