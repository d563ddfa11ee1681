//! The mart contract (DESIGN.md) as Arrow schemas: one function per table.
//!
//! Timestamps are stored as Delta `timestamp` (microseconds, UTC label); source times carry no
//! zone and are stored as given. Facts carry one extra column, `month_key` (yyyymm), that
//! partitions them so that date filters prune whole months of files.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The Arrow timestamp type used throughout the mart.
pub fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn f(name: &str, dt: DataType, nullable: bool) -> Field {
    Field::new(name, dt, nullable)
}

fn text(name: &str) -> Field {
    f(name, DataType::Utf8, true)
}

/// Every table the ETL writes, in commit order: dimensions, facts, then the run records.
pub const ETL_TABLES: &[&str] = &[
    "dim_date",
    "dim_product",
    "dim_store",
    "dim_campaign",
    "dim_customer",
    "fact_sales",
    "fact_contacts",
    "_quarantine",
    "_etl_runs",
];

/// The natural key of a fact table, as `column = source.column` conditions.
pub fn natural_key(table: &str) -> Vec<String> {
    let cols: &[&str] = match table {
        "fact_sales" => &["order_id", "line_no"],
        "fact_contacts" => &["contact_id"],
        _ => &[],
    };
    cols.iter()
        .map(|c| format!("target.{c} = source.{c}"))
        .collect()
}

/// Schema of mart table `name`.
pub fn schema(name: &str) -> SchemaRef {
    use DataType::*;
    let fields = match name {
        "dim_date" => vec![
            f("date_key", Int32, false),
            f("date", Date32, false),
            f("year", Int32, false),
            f("quarter", Int32, false),
            f("month", Int32, false),
            f("month_name", Utf8, false),
            f("iso_week", Int32, false),
            f("day_of_week", Int32, false),
            f("is_weekend", Boolean, false),
        ],
        "dim_customer" => vec![
            f("customer_key", Int64, false),
            f("customer_id", Utf8, false),
            text("name"),
            text("email"),
            text("phone"),
            text("city"),
            text("region"),
            text("country"),
            text("gender"),
            f("birth_year", Int32, true),
            f("signup_date", Date32, true),
            text("channel"),
            f("email_opt_in", Boolean, true),
            f("phone_opt_in", Boolean, true),
            f("do_not_contact", Boolean, true),
            f("valid_from", ts(), false),
            f("valid_to", ts(), false),
            f("is_current", Boolean, false),
        ],
        "dim_product" => vec![
            f("product_key", Int64, false),
            f("product_id", Utf8, false),
            text("name"),
            text("category"),
            text("subcategory"),
            text("brand"),
            f("unit_price", Float64, true),
            f("unit_cost", Float64, true),
        ],
        "dim_store" => vec![
            f("store_key", Int64, false),
            f("store_id", Utf8, false),
            text("name"),
            text("city"),
            text("region"),
            text("channel"),
        ],
        "dim_campaign" => vec![
            f("campaign_key", Int64, false),
            f("campaign_id", Utf8, false),
            text("name"),
            text("channel"),
            f("start_date", Date32, true),
            f("end_date", Date32, true),
            f("cost", Float64, true),
        ],
        "fact_sales" => vec![
            f("order_id", Utf8, false),
            f("line_no", Int64, false),
            f("date_key", Int32, false),
            f("order_ts", ts(), false),
            f("customer_key", Int64, false),
            f("product_key", Int64, false),
            f("store_key", Int64, false),
            f("quantity", Float64, false),
            f("unit_price", Float64, false),
            f("discount", Float64, false),
            f("net_amount", Float64, false),
            f("cost_amount", Float64, true),
            f("margin", Float64, true),
            f("is_return", Boolean, false),
            f("batch_id", Utf8, false),
            f("month_key", Int32, false),
        ],
        "fact_contacts" => vec![
            f("contact_id", Utf8, false),
            f("date_key", Int32, false),
            f("contact_ts", ts(), false),
            f("customer_key", Int64, false),
            f("campaign_key", Int64, true),
            text("channel"),
            text("direction"),
            text("contact_type"),
            text("outcome"),
            f("duration_s", Float64, true),
            f("satisfaction", Int32, true),
            f("batch_id", Utf8, false),
            f("month_key", Int32, false),
        ],
        "_quarantine" => vec![
            f("batch_id", Utf8, false),
            f("source", Utf8, false),
            f("file", Utf8, false),
            f("line", Int64, false),
            f("raw", Utf8, false),
            f("reason", Utf8, false),
            text("column"),
            text("value"),
        ],
        "_etl_runs" => vec![
            f("batch_id", Utf8, false),
            f("seq", Int64, false),
            f("entity", Utf8, false),
            f("started_at", ts(), false),
            f("finished_at", ts(), false),
            f("files", Utf8, false),
            f("rows_read", Int64, false),
            f("rows_loaded", Int64, false),
            f("rows_quarantined", Int64, false),
            f("status", Utf8, false),
            f("rows_updated", Int64, true),
            f("rows_unchanged", Int64, true),
        ],
        "customer_segments" => vec![
            f("customer_id", Utf8, false),
            f("as_of", Date32, false),
            f("recency_days", Float64, false),
            f("frequency", Int64, false),
            f("monetary", Float64, false),
            f("r_score", Int32, false),
            f("f_score", Int32, false),
            f("m_score", Int32, false),
            f("rfm_segment", Utf8, false),
            f("cluster_id", Int32, false),
            f("cluster_name", Utf8, false),
            f("model_version", Utf8, false),
            f("mart_version", Int64, true),
        ],
        "churn_scores" => vec![
            f("customer_id", Utf8, false),
            f("as_of", Date32, false),
            f("churn_probability", Float64, false),
            f("risk_band", Utf8, false),
            f("top_reasons", Utf8, false),
            f("model_version", Utf8, false),
            f("mart_version", Int64, true),
        ],
        "customer_value" => vec![
            f("customer_id", Utf8, false),
            f("as_of", Date32, true),
            f("frequency", Int64, false),
            f("recency_weeks", Float64, false),
            f("t_weeks", Float64, false),
            f("monetary", Float64, false),
            f("p_alive", Float64, false),
            f("expected_purchases_90d", Float64, false),
            f("expected_purchases_12m", Float64, false),
            f("expected_avg_value", Float64, false),
            f("clv_12m", Float64, false),
            f("model_version", Utf8, false),
            f("mart_version", Int64, true),
        ],
        "basket_rules" => vec![
            f("rule_id", Int64, false),
            f("antecedent", Utf8, false),
            f("consequent", Utf8, false),
            f("level", Utf8, false),
            f("support", Float64, false),
            f("confidence", Float64, false),
            f("lift", Float64, false),
            f("leverage", Float64, false),
            f("conviction", Float64, true),
            f("antecedent_count", Int64, false),
            f("rule_count", Int64, false),
            f("antecedent_items", Utf8, false),
            f("consequent_item", Utf8, false),
            f("consequent_count", Int64, false),
            f("transactions", Int64, false),
            f("mart_version", Int64, true),
        ],
        "recommendations" => vec![
            f("customer_id", Utf8, false),
            f("kind", Utf8, false),
            f("rank", Int64, false),
            f("product_id", Utf8, true),
            f("product_name", Utf8, true),
            f("score", Float64, true),
            f("expected_value", Float64, true),
            f("value_basis", Utf8, true),
            f("reason", Utf8, false),
            f("action", Utf8, false),
            f("churn_probability", Float64, true),
            f("clv_12m", Float64, true),
            f("segment", Utf8, true),
            f("generated_at", Utf8, false),
            f("run_id", Utf8, false),
        ],
        other => panic!("no schema for mart table {other}"),
    };
    Arc::new(Schema::new(fields))
}

/// Partition column of `name`, if it is partitioned.
pub fn partition_column(name: &str) -> Option<&'static str> {
    match name {
        "fact_sales" | "fact_contacts" => Some("month_key"),
        _ => None,
    }
}
