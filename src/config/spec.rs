//! The source contract as data: for every entity, its canonical columns, their types, whether
//! they are required, and the value rules a row must pass.

/// How a source column is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text, kept as is (trimmed).
    Text,
    /// Whole number.
    Int,
    /// Decimal number.
    Float,
    /// Calendar date (the mapping's `date_format`).
    Date,
    /// Date and time (the mapping's `timestamp_format`).
    Timestamp,
    /// Yes or no: `true`/`false`, `yes`/`no`, `y`/`n`, `1`/`0` (case-insensitive; other words
    /// through a value map).
    Bool,
}

/// Words read as true in a true/false column.
pub const TRUE_WORDS: &[&str] = &["true", "t", "yes", "y", "1"];
/// Words read as false in a true/false column.
pub const FALSE_WORDS: &[&str] = &["false", "f", "no", "n", "0"];

/// A value rule beyond parsing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// No rule.
    Any,
    /// ≥ 0.
    NonNegative,
    /// ≠ 0.
    NonZero,
    /// Within [lo, hi].
    Between(f64, f64),
    /// One of a fixed list of words (compared case-insensitively, stored lower case).
    OneOf(&'static [&'static str]),
}

/// One canonical column of an entity.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    /// Canonical name.
    pub name: &'static str,
    /// Parsed type.
    pub kind: Kind,
    /// Must be present in the file and non-empty in every row.
    pub required: bool,
    /// Value rule applied after parsing.
    pub rule: Rule,
}

const fn col(name: &'static str, kind: Kind, required: bool, rule: Rule) -> ColumnSpec {
    ColumnSpec {
        name,
        kind,
        required,
        rule,
    }
}

use Kind::*;
use Rule::*;

/// Store and customer channels.
pub const STORE_CHANNELS: &[&str] = &["store", "online", "phone", "partner"];
/// Contact channels.
pub const CONTACT_CHANNELS: &[&str] = &["phone", "email", "visit", "web", "chat", "sms"];
/// Contact directions.
pub const DIRECTIONS: &[&str] = &["inbound", "outbound"];
/// Contact types.
pub const CONTACT_TYPES: &[&str] = &["inquiry", "complaint", "service", "campaign", "sales_call"];
/// Contact outcomes.
pub const OUTCOMES: &[&str] = &["resolved", "unresolved", "converted", "no_response"];

const CUSTOMERS: &[ColumnSpec] = &[
    col("customer_id", Text, true, Any),
    col("name", Text, false, Any),
    col("email", Text, false, Any),
    col("phone", Text, false, Any),
    col("city", Text, false, Any),
    col("region", Text, false, Any),
    col("country", Text, false, Any),
    col("gender", Text, false, Any),
    col("birth_date", Date, false, Any),
    col("signup_date", Date, false, Any),
    col("channel", Text, false, Any),
    col("updated_at", Date, false, Any),
    col("email_opt_in", Bool, false, Any),
    col("phone_opt_in", Bool, false, Any),
    col("do_not_contact", Bool, false, Any),
];

const PRODUCTS: &[ColumnSpec] = &[
    col("product_id", Text, true, Any),
    col("name", Text, false, Any),
    col("category", Text, false, Any),
    col("subcategory", Text, false, Any),
    col("brand", Text, false, Any),
    col("unit_price", Float, false, NonNegative),
    col("unit_cost", Float, false, NonNegative),
];

const STORES: &[ColumnSpec] = &[
    col("store_id", Text, true, Any),
    col("name", Text, false, Any),
    col("city", Text, false, Any),
    col("region", Text, false, Any),
    col("channel", Text, false, OneOf(STORE_CHANNELS)),
];

const CAMPAIGNS: &[ColumnSpec] = &[
    col("campaign_id", Text, true, Any),
    col("name", Text, false, Any),
    col("channel", Text, false, Any),
    col("start_date", Date, false, Any),
    col("end_date", Date, false, Any),
    col("cost", Float, false, NonNegative),
];

/// Sales order lines. `product_name` and `customer_country` are optional derivation columns:
/// an export with no product or customer file (a single invoice-line file) carries them on the
/// lines, and the derived dimensions take them from there.
const SALES: &[ColumnSpec] = &[
    col("order_id", Text, true, Any),
    col("line_no", Int, false, NonNegative),
    col("order_ts", Timestamp, true, Any),
    col("customer_id", Text, true, Any),
    col("product_id", Text, true, Any),
    col("store_id", Text, false, Any),
    col("quantity", Float, true, NonZero),
    col("unit_price", Float, true, NonNegative),
    col("discount", Float, false, Between(0.0, 1.0)),
    col("product_name", Text, false, Any),
    col("customer_country", Text, false, Any),
];

const CONTACTS: &[ColumnSpec] = &[
    col("contact_id", Text, true, Any),
    col("contact_ts", Timestamp, true, Any),
    col("customer_id", Text, true, Any),
    col("channel", Text, false, OneOf(CONTACT_CHANNELS)),
    col("direction", Text, false, OneOf(DIRECTIONS)),
    col("contact_type", Text, false, OneOf(CONTACT_TYPES)),
    col("campaign_id", Text, false, Any),
    col("outcome", Text, false, OneOf(OUTCOMES)),
    col("duration_s", Float, false, NonNegative),
    col("satisfaction", Int, false, Between(1.0, 5.0)),
];

/// The columns of `entity` (one of `config::ENTITIES`).
pub fn columns(entity: &str) -> &'static [ColumnSpec] {
    match entity {
        "customers" => CUSTOMERS,
        "products" => PRODUCTS,
        "stores" => STORES,
        "campaigns" => CAMPAIGNS,
        "sales" => SALES,
        "contacts" => CONTACTS,
        other => panic!("unknown entity {other}: callers pass config::ENTITIES"),
    }
}

/// The natural key of `entity`: rows sharing it are duplicates.
pub fn key_columns(entity: &str) -> &'static [&'static str] {
    match entity {
        "customers" => &["customer_id"],
        "products" => &["product_id"],
        "stores" => &["store_id"],
        "campaigns" => &["campaign_id"],
        "sales" => &["order_id", "line_no"],
        "contacts" => &["contact_id"],
        _ => &[],
    }
}
