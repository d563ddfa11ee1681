//! The mart contract (docs/design.md) as Arrow schemas: one function per table.
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
    MartTable::from_name(table)
        .map(MartTable::natural_key)
        .unwrap_or_default()
}

/// Every table of the mart: the ETL's dimensions, facts and run records, and the model outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MartTable {
    /// `dim_date`: the calendar.
    DimDate,
    /// `dim_product`: products (type 1).
    DimProduct,
    /// `dim_store`: stores (type 1).
    DimStore,
    /// `dim_campaign`: campaigns (type 1).
    DimCampaign,
    /// `dim_customer`: customers (type 2).
    DimCustomer,
    /// `fact_sales`: order lines.
    FactSales,
    /// `fact_contacts`: contacts.
    FactContacts,
    /// `_quarantine`: rows that could not be loaded.
    Quarantine,
    /// `_etl_runs`: one row per ETL batch.
    EtlRuns,
    /// `customer_segments`: segment output.
    CustomerSegments,
    /// `churn_scores`: churn output.
    ChurnScores,
    /// `customer_value`: CLV output.
    CustomerValue,
    /// `basket_rules`: association rules.
    BasketRules,
    /// `recommendations`: recommendations and next-best actions.
    Recommendations,
    /// `_maintenance`: one row per table and `maintain` run.
    Maintenance,
    /// `_erasures`: one row per customer forgotten (a hash of the id).
    Erasures,
}

impl MartTable {
    /// Every table: dimensions, facts and run records in the ETL's commit order, then the model
    /// outputs.
    pub const ALL: [MartTable; 16] = [
        MartTable::DimDate,
        MartTable::DimProduct,
        MartTable::DimStore,
        MartTable::DimCampaign,
        MartTable::DimCustomer,
        MartTable::FactSales,
        MartTable::FactContacts,
        MartTable::Quarantine,
        MartTable::EtlRuns,
        MartTable::CustomerSegments,
        MartTable::ChurnScores,
        MartTable::CustomerValue,
        MartTable::BasketRules,
        MartTable::Recommendations,
        MartTable::Maintenance,
        MartTable::Erasures,
    ];

    /// Its name in the mart directory and in SQL.
    pub fn name(self) -> &'static str {
        match self {
            MartTable::DimDate => "dim_date",
            MartTable::DimProduct => "dim_product",
            MartTable::DimStore => "dim_store",
            MartTable::DimCampaign => "dim_campaign",
            MartTable::DimCustomer => "dim_customer",
            MartTable::FactSales => "fact_sales",
            MartTable::FactContacts => "fact_contacts",
            MartTable::Quarantine => "_quarantine",
            MartTable::EtlRuns => "_etl_runs",
            MartTable::CustomerSegments => "customer_segments",
            MartTable::ChurnScores => "churn_scores",
            MartTable::CustomerValue => "customer_value",
            MartTable::BasketRules => "basket_rules",
            MartTable::Recommendations => "recommendations",
            MartTable::Maintenance => "_maintenance",
            MartTable::Erasures => "_erasures",
        }
    }

    /// Whether the table is a model output that its stage replaces whole on every run
    /// (segments, churn scores, customer value, rules, recommendations): its history is kept for
    /// `[maintain] outputs_retain_days`, the facts' for `retain_days`.
    pub fn is_model_output(self) -> bool {
        matches!(
            self,
            MartTable::CustomerSegments
                | MartTable::ChurnScores
                | MartTable::CustomerValue
                | MartTable::BasketRules
                | MartTable::Recommendations
        )
    }

    /// The table called `name`, if it is one of the mart's.
    pub fn from_name(name: &str) -> Option<MartTable> {
        MartTable::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Its Arrow schema (the mart contract).
    pub fn schema(self) -> SchemaRef {
        let fields = dimension_fields(self)
            .or_else(|| fact_fields(self))
            .or_else(|| record_fields(self))
            .or_else(|| output_fields(self))
            .expect("every table has fields");
        Arc::new(Schema::new(fields))
    }

    /// Its partition column, if it is partitioned.
    pub fn partitioning(self) -> Option<&'static str> {
        match self {
            MartTable::FactSales | MartTable::FactContacts => Some("month_key"),
            _ => None,
        }
    }

    /// The natural key of a fact table, as `column = source.column` conditions.
    pub fn natural_key(self) -> Vec<String> {
        let cols: &[&str] = match self {
            MartTable::FactSales => &["order_id", "line_no"],
            MartTable::FactContacts => &["contact_id"],
            _ => &[],
        };
        cols.iter()
            .map(|c| format!("target.{c} = source.{c}"))
            .collect()
    }
}

impl std::fmt::Display for MartTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Schema of mart table `name` (see [`MartTable::schema`]).
///
/// # Panics
/// When `name` is not a mart table.
pub fn schema(name: &str) -> SchemaRef {
    MartTable::from_name(name)
        .unwrap_or_else(|| panic!("no schema for mart table {name}"))
        .schema()
}

/// The fields of a dimension.
fn dimension_fields(t: MartTable) -> Option<Vec<Field>> {
    use DataType::*;
    Some(match t {
        MartTable::DimDate => vec![
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
        MartTable::DimProduct => vec![
            f("product_key", Int64, false),
            f("product_id", Utf8, false),
            text("name"),
            text("category"),
            text("subcategory"),
            text("brand"),
            f("unit_price", Float64, true),
            f("unit_cost", Float64, true),
        ],
        MartTable::DimStore => vec![
            f("store_key", Int64, false),
            f("store_id", Utf8, false),
            text("name"),
            text("city"),
            text("region"),
            text("channel"),
        ],
        MartTable::DimCampaign => vec![
            f("campaign_key", Int64, false),
            f("campaign_id", Utf8, false),
            text("name"),
            text("channel"),
            f("start_date", Date32, true),
            f("end_date", Date32, true),
            f("cost", Float64, true),
        ],
        MartTable::DimCustomer => vec![
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
        _ => return None,
    })
}

/// The fields of a fact table or the quarantine.
fn fact_fields(t: MartTable) -> Option<Vec<Field>> {
    use DataType::*;
    Some(match t {
        MartTable::FactSales => vec![
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
        MartTable::FactContacts => vec![
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
        MartTable::Quarantine => vec![
            f("batch_id", Utf8, false),
            f("source", Utf8, false),
            f("file", Utf8, false),
            f("line", Int64, false),
            f("raw", Utf8, false),
            f("reason", Utf8, false),
            text("column"),
            text("value"),
            // The code alone (`duplicate_row`), for GROUP BY; `reason` is the code and the
            // explanation. Null in rows written before the column existed.
            text("reason_code"),
        ],
        _ => return None,
    })
}

/// The fields of a run record: ETL batches, maintenance, erasures.
fn record_fields(t: MartTable) -> Option<Vec<Field>> {
    use DataType::*;
    Some(match t {
        MartTable::EtlRuns => vec![
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
        MartTable::Maintenance => vec![
            f("run_at", ts(), false),
            f("table_name", Utf8, false),
            f("retain_days", Int64, false),
            f("version", Int64, false),
            f("files_before", Int64, false),
            f("files_after", Int64, false),
            f("data_bytes_before", Int64, false),
            f("data_bytes_after", Int64, false),
            f("disk_bytes_before", Int64, false),
            f("disk_bytes_after", Int64, false),
            f("log_bytes_before", Int64, false),
            f("log_bytes_after", Int64, false),
            f("files_compacted", Int64, false),
            f("files_vacuumed", Int64, false),
        ],
        MartTable::Erasures => vec![f("id_hash", Utf8, false), f("requested_at", ts(), false)],
        _ => return None,
    })
}

/// The fields of a model-output table.
fn output_fields(t: MartTable) -> Option<Vec<Field>> {
    use DataType::*;
    Some(match t {
        MartTable::CustomerSegments => vec![
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
        MartTable::ChurnScores => vec![
            f("customer_id", Utf8, false),
            f("as_of", Date32, false),
            f("churn_probability", Float64, false),
            f("risk_band", Utf8, false),
            f("top_reasons", Utf8, false),
            f("model_version", Utf8, false),
            f("mart_version", Int64, true),
        ],
        MartTable::CustomerValue => vec![
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
        MartTable::BasketRules => vec![
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
        MartTable::Recommendations => vec![
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
        _ => return None,
    })
}

/// Partition column of `name`, if it is partitioned.
pub fn partition_column(name: &str) -> Option<&'static str> {
    MartTable::from_name(name).and_then(MartTable::partitioning)
}
