//! The `recommendations` rows: per customer, the replenish and the cross-sell list (rank 1..N
//! within each kind) when the action pushes products; otherwise one row of kind `none`, rank 0,
//! no product, and the reason for the action.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};

use super::{CustomerAction, History, Kind, Pick, Picks};
use crate::error::Result;

/// Builds the rows of one run.
pub fn to_batch(
    h: &History,
    picks: &Picks,
    actions: &[Option<CustomerAction>],
    generated_at: &str,
    run_id: &str,
) -> Result<RecordBatch> {
    let mut rows = Rows::default();
    for (c, a) in actions.iter().enumerate() {
        let Some(a) = a else { continue };
        let lists = [&picks.replenish[c], &picks.cross_sell[c]];
        if a.action.pushes_products() && lists.iter().any(|l| !l.is_empty()) {
            for list in lists {
                for (k, p) in list.iter().enumerate() {
                    rows.push(h, c, a, k as i64 + 1, Some(p));
                }
            }
        } else {
            rows.push(h, c, a, 0, None);
        }
    }
    rows.finish(generated_at, run_id)
}

#[derive(Default)]
struct Rows {
    customer: Vec<String>,
    kind: Vec<&'static str>,
    rank: Vec<i64>,
    product: Vec<Option<String>>,
    name: Vec<Option<String>>,
    score: Vec<Option<f64>>,
    value: Vec<Option<f64>>,
    basis: Vec<Option<&'static str>>,
    reason: Vec<String>,
    action: Vec<&'static str>,
    churn: Vec<Option<f64>>,
    clv: Vec<Option<f64>>,
    segment: Vec<Option<String>>,
}

impl Rows {
    fn push(&mut self, h: &History, c: usize, a: &CustomerAction, rank: i64, p: Option<&Pick>) {
        self.customer.push(h.customers[c].clone());
        self.kind.push(p.map_or(Kind::None, |p| p.kind).as_str());
        self.rank.push(rank);
        let product = p.map(|p| p.product as usize);
        self.product.push(product.map(|i| h.products[i].clone()));
        self.name.push(product.map(|i| h.product_names[i].clone()));
        self.score.push(p.map(|p| p.score));
        self.value
            .push(p.map(|p| p.score * h.product_value[p.product as usize]));
        self.basis.push(product.map(|i| {
            if h.value_is_margin[i] {
                "margin"
            } else {
                "revenue"
            }
        }));
        self.reason.push(match (p, &a.policy_reason) {
            (Some(p), _) => p.reason.clone(),
            (None, Some(why)) => why.clone(),
            (None, None) if a.action.pushes_products() => format!(
                "{}: no product to recommend (nothing bought that the models cover)",
                a.action
            ),
            (None, None) => format!(
                "no action: no purchase for {} days and not among the most valuable customers",
                a.recency_days
            ),
        });
        self.action.push(a.action.as_str());
        self.churn.push(a.churn_probability);
        self.clv.push(a.clv_12m);
        self.segment.push(a.segment.clone());
    }

    fn finish(self, generated_at: &str, run_id: &str) -> Result<RecordBatch> {
        let n = self.customer.len();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(self.customer)),
            Arc::new(StringArray::from(self.kind)),
            Arc::new(Int64Array::from(self.rank)),
            Arc::new(StringArray::from(self.product)),
            Arc::new(StringArray::from(self.name)),
            Arc::new(Float64Array::from(self.score)),
            Arc::new(Float64Array::from(self.value)),
            Arc::new(StringArray::from(self.basis)),
            Arc::new(StringArray::from(self.reason)),
            Arc::new(StringArray::from(self.action)),
            Arc::new(Float64Array::from(self.churn)),
            Arc::new(Float64Array::from(self.clv)),
            Arc::new(StringArray::from(self.segment)),
            Arc::new(StringArray::from(vec![generated_at; n])),
            Arc::new(StringArray::from(vec![run_id; n])),
        ];
        Ok(RecordBatch::try_new(
            crate::mart::schema::schema("recommendations"),
            cols,
        )?)
    }
}
