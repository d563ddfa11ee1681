//! `fact_contacts` rows: references, surrogate keys.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::DataType;
use polars::prelude::DataFrame;

use super::{
    FactContext, FactRows, Found, Marks, Unresolved, found, key_hash, late_reject, strs, ts_column,
    unknown,
};
use crate::error::Result;
use crate::etl::dims::Cell;
use crate::etl::read::Reject;
use crate::etl::{Loaded, bridge};

/// A contact's campaign, when it names one.
type CampaignRef<'a> = Option<(&'a str, Found)>;

/// Looks up contact `i`'s customer and campaign.
fn contact_refs<'a>(
    ctx: &FactContext,
    cust: &'a str,
    campaign: Option<&'a str>,
    ts: i64,
) -> std::result::Result<(Found, CampaignRef<'a>), Unresolved<'a>> {
    let cref = found(ctx.customers.key_at(cust, ts), ctx.has_source["customers"]);
    let kref = campaign.map(|k| (k, found(ctx.campaigns.key(k), ctx.has_source["campaigns"])));
    if let Found::Unknown = cref {
        return Err((
            "customer_id",
            cust,
            unknown("customers", "customer_id", cust),
        ));
    }
    if let Some((k, Found::Unknown)) = kref {
        return Err(("campaign_id", k, unknown("campaigns", "campaign_id", k)));
    }
    Ok((cref, kref))
}

/// Builds `fact_contacts` rows from `df`, a slice of the typed rows of contacts file `f`.
pub fn contacts(
    ctx: &mut FactContext,
    f: &Loaded,
    df: &DataFrame,
    rejects: &mut Vec<(usize, Reject)>,
) -> Result<FactRows> {
    let n = df.height();
    if n == 0 {
        return Ok(FactRows::default());
    }
    let contact_id = strs(df, "contact_id")?;
    let ts = ts_column(df, "contact_ts")?;
    let customer = strs(df, "customer_id")?;
    let campaign = strs(df, "campaign_id")?;
    let mut marks = Marks::new(n);
    let mut cust_key = vec![0i64; n];
    let mut camp_key: Vec<Option<i64>> = vec![None; n];
    for i in 0..n {
        let cid = contact_id[i].unwrap_or_default();
        let h = key_hash(cid);
        if ctx.keys.batch_contacts.contains(&h) {
            marks.reject(i, late_reject(f, df, i, "duplicate_key", "contact_id", cid, format!(
                "contact '{cid}' appears twice in this batch; which one is right is unknown (a restated contact belongs in a later export)"
            )), rejects);
            continue;
        }
        let cust = customer[i].unwrap_or_default();
        let (cref, kref) = match contact_refs(ctx, cust, campaign[i], ts[i]) {
            Ok(refs) => refs,
            Err((column, value, message)) => {
                let r = late_reject(f, df, i, "unknown_reference", column, value, message);
                marks.reject(i, r, rejects);
                continue;
            }
        };
        if !ctx.keys.claim_contacts(h) {
            marks.restate(i);
        }
        cust_key[i] = match cref {
            Found::Known(k) => k,
            _ => {
                let n_attrs = ctx.customers.attribute_names().len();
                ctx.customers.ensure(cust, vec![Cell::Null; n_attrs])
            }
        };
        camp_key[i] = match kref {
            None => None,
            Some((_, Found::Known(k))) => Some(k),
            Some((k, _)) => Some(ctx.campaigns.ensure(k, vec![Cell::Null; 5])),
        };
        marks.date(i, ts[i]);
    }
    let satisfaction: Vec<Option<i32>> = df
        .column("satisfaction")?
        .i64()?
        .iter()
        .map(|v| v.map(|x| x as i32))
        .collect();
    let (date_key, month_key) = marks.key_columns();
    let columns: Vec<ArrayRef> = vec![
        bridge::to_arrow(df.column("contact_id")?, &DataType::Utf8)?,
        date_key,
        Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
        Arc::new(Int64Array::from(cust_key)),
        Arc::new(Int64Array::from(camp_key)),
        bridge::to_arrow(df.column("channel")?, &DataType::Utf8)?,
        bridge::to_arrow(df.column("direction")?, &DataType::Utf8)?,
        bridge::to_arrow(df.column("contact_type")?, &DataType::Utf8)?,
        bridge::to_arrow(df.column("outcome")?, &DataType::Utf8)?,
        bridge::to_arrow(df.column("duration_s")?, &DataType::Float64)?,
        Arc::new(Int32Array::from(satisfaction)),
        Arc::new(StringArray::from(vec![ctx.batch_id; n])),
        month_key,
    ];
    marks.finish("fact_contacts", columns)
}
