//! The synthetic data generator behind `crm-mart generate`.
//!
//! It writes the six source entities in the canonical CSV shape (docs/design.md, source contract) and
//! plants the patterns the models must find. Every value is a pure function of the seed and the
//! entity's identity (customer index, month), never of the number of months or customers asked
//! for, so that:
//! - a run with one more month reproduces the earlier month files byte for byte and adds one
//!   (incremental loads are tested with exactly this);
//! - memory stays flat as `--customers` grows: customer profiles are recomputed, not stored.
//!
//! Layout of the output directory:
//! `customers.csv products.csv stores.csv campaigns.csv sales/YYYY-MM.csv contacts/YYYY-MM.csv`
//! and `planted_defects.csv` (file, line, kind) listing every malformed row written.

mod catalog;
pub mod rng;

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{Datelike, Duration, NaiveDate};
use rayon::prelude::*;

use crate::error::{Error, Result};
use catalog::{CITIES, FIRST_NAMES, LAST_NAMES, PRODUCTS, STORES};
use rng::Rng;

mod month;
use month::*;
mod dirty;
use dirty::*;

mod customers;
use customers::*;
#[cfg(test)]
mod tests;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateSettings {
    /// Output directory (created if missing).
    pub out: PathBuf,
    /// Number of customers in the population (some sign up after the generated range).
    pub customers: u64,
    /// Number of months, starting at `start`.
    pub months: u32,
    /// First month of the timeline.
    pub start: NaiveDate,
    /// Seed of every random stream.
    pub seed: u64,
    /// Share of fact rows written malformed (0 = clean).
    pub dirty_rate: f64,
    /// One sales and one contacts file per month, or per day (for daily loads).
    pub period: Period,
}

/// The span of each sales and contacts file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Period {
    /// `sales/2024-01.csv`.
    #[default]
    Month,
    /// `sales/2024-01-05.csv`: a nightly export.
    Day,
}

impl Period {
    /// Every period.
    pub const ALL: [Period; 2] = [Period::Month, Period::Day];

    /// Its name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Month => "month",
            Period::Day => "day",
        }
    }
}

/// Counts of what was written, for the command's summary.
#[derive(Debug, Default, Clone)]
pub struct GenerateSummary {
    /// Customers written to customers.csv.
    pub customers: u64,
    /// Order lines written (including planted defects).
    pub sales_lines: u64,
    /// Contacts written (including planted defects).
    pub contacts: u64,
    /// Malformed rows planted.
    pub defects: u64,
}

/// Behaviour groups planted in the population (the segmentation must find them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Frequent, large baskets, full price.
    LoyalHighSpender,
    /// Buys on discount, cheap items.
    BargainHunter,
    /// Rare, small baskets.
    Occasional,
    /// Baby and household products, regular.
    Family,
    /// Signed up within the generated range.
    NewCustomer,
}

impl Group {
    fn name(self) -> &'static str {
        match self {
            Group::LoyalHighSpender => "loyal_high_spender",
            Group::BargainHunter => "bargain_hunter",
            Group::Occasional => "occasional",
            Group::Family => "family",
            Group::NewCustomer => "new_customer",
        }
    }
}

/// One customer's hidden profile: a pure function of (seed, index).
#[derive(Debug, Clone)]
pub struct Profile {
    /// 0-based index.
    pub index: u64,
    /// Planted behaviour group.
    pub group: Group,
    /// Signup month relative to the start (negative = before the range).
    pub signup_month: i32,
    /// Day of the signup month.
    pub signup_day: u32,
    /// Month from which the customer stops buying (planted churn), relative to start.
    pub churn_month: Option<i32>,
    /// Home city index into `CITIES`.
    pub city: usize,
    /// A move to another city: (month relative to start, day, new city index).
    pub moves: Option<(i32, u32, usize)>,
    /// Home store index into `STORES` (physical stores only).
    pub home_store: usize,
    first: usize,
    last: usize,
    gender: &'static str,
    birth: NaiveDate,
    channel: &'static str,
}

/// Kinds of malformed rows planted with `--dirty-rate`, and the quarantine reason code the
/// validator must give each.
pub const DEFECT_KINDS: &[(&str, &str)] = &[
    ("unparseable_date", "unparseable_timestamp"),
    ("non_numeric_quantity", "not_a_number"),
    ("non_numeric_price", "not_a_number"),
    ("missing_id", "missing_value"),
    ("unknown_customer", "unknown_reference"),
    ("unknown_product", "unknown_reference"),
    ("exact_duplicate", "duplicate_row"),
    ("wrong_column_count", "wrong_column_count"),
    ("invalid_utf8", "invalid_utf8"),
    ("negative_price", "out_of_range"),
    ("satisfaction_out_of_range", "out_of_range"),
];

/// Customer channels, weighted by repetition.
const CHANNELS: [&str; 6] = ["store", "store", "online", "online", "phone", "partner"];

const STREAM_PROFILE: u64 = 1;
const STREAM_SALES: u64 = 2;
const STREAM_CONTACTS: u64 = 3;
const STREAM_DIRT: u64 = 4;
const STREAM_CAMPAIGN: u64 = 5;
const STREAM_CYCLE: u64 = 6;
const STREAM_CYCLE_ORDER: u64 = 7;

impl Profile {
    /// Derive customer `index`'s profile.
    pub fn new(seed: u64, index: u64) -> Profile {
        let mut r = Rng::stream(&[seed, STREAM_PROFILE, index]);
        let group = match r.weighted(&[0.12, 0.25, 0.28, 0.20, 0.15]) {
            0 => Group::LoyalHighSpender,
            1 => Group::BargainHunter,
            2 => Group::Occasional,
            3 => Group::Family,
            _ => Group::NewCustomer,
        };
        let signup_month = if group == Group::NewCustomer {
            r.range(0, 29) as i32
        } else {
            r.range(-36, -1) as i32
        };
        let signup_day = r.range(1, 28) as u32;
        // Planted churn: a share of established customers stop buying at some month inside the
        // range; their purchase rate falls and complaints pile up in the three months before.
        let churn_share = match group {
            Group::Occasional => 0.30,
            Group::BargainHunter => 0.25,
            Group::LoyalHighSpender => 0.08,
            Group::Family => 0.12,
            Group::NewCustomer => 0.20,
        };
        let churn_month = if r.chance(churn_share) {
            Some(r.range(signup_month.max(0) as i64 + 6, 30) as i32)
        } else {
            None
        };
        let city = r.below(CITIES.len() as u64) as usize;
        let moves = if r.chance(0.12) {
            let mut to = r.below(CITIES.len() as u64) as usize;
            if to == city {
                to = (to + 1) % CITIES.len();
            }
            Some((r.range(1, 30) as i32, r.range(1, 28) as u32, to))
        } else {
            None
        };
        let physical: Vec<usize> = (0..STORES.len())
            .filter(|&s| STORES[s].4 == "store")
            .collect();
        let same_region: Vec<usize> = physical
            .iter()
            .copied()
            .filter(|&s| STORES[s].3 == CITIES[city].1)
            .collect();
        let home_store = if same_region.is_empty() {
            *r.pick(&physical)
        } else {
            *r.pick(&same_region)
        };
        let age = match group {
            Group::Family => r.range(26, 42),
            Group::NewCustomer => r.range(18, 35),
            _ => r.range(20, 78),
        };
        let birth = NaiveDate::from_ymd_opt(2024 - age as i32, 1, 1).unwrap()
            + Duration::days(r.range(0, 364));
        Profile {
            index,
            group,
            signup_month,
            signup_day,
            churn_month,
            city,
            moves,
            home_store,
            first: r.below(FIRST_NAMES.len() as u64) as usize,
            last: r.below(LAST_NAMES.len() as u64) as usize,
            gender: if r.chance(0.5) { "F" } else { "M" },
            birth,
            channel: CHANNELS[r.below(CHANNELS.len() as u64) as usize],
        }
    }

    /// The natural customer id.
    pub fn customer_id(&self) -> String {
        format!("C{:07}", self.index + 1)
    }

    /// City index in force on `date`.
    fn city_on(&self, start: NaiveDate, date: NaiveDate) -> usize {
        match self.moves {
            Some((m, d, to)) if date >= month_start(start, m).with_day(d).unwrap() => to,
            _ => self.city,
        }
    }

    /// The customer's purchase cycle: (period, first order) in days from the start of the range.
    /// Customers buy by habit, about once per period (the group's mean gap × 0.75–1.25); an
    /// established customer's first cycle falls anywhere in the first period, a new customer's on
    /// the signup day. Drawn from its own stream, so the rest of the profile is unaffected.
    pub fn cycle(&self, seed: u64, start: NaiveDate) -> (f64, f64) {
        let mut r = Rng::stream(&[seed, STREAM_CYCLE, self.index]);
        let period = 30.4 / self.order_rate() * 1.1 * (0.75 + 0.5 * r.f64());
        let phase = if self.signup_month >= 0 {
            (month_start(start, self.signup_month) - start).num_days() as f64
                + self.signup_day as f64
                - 1.0
        } else {
            period * r.f64()
        };
        (period, phase)
    }

    /// Base orders per month for the group.
    fn order_rate(&self) -> f64 {
        match self.group {
            Group::LoyalHighSpender => 0.70,
            Group::BargainHunter => 0.36,
            Group::Occasional => 0.10,
            Group::Family => 0.46,
            Group::NewCustomer => 0.33,
        }
    }
}

/// First day of month `m` (relative to `start`, which is a first of month).
fn month_start(start: NaiveDate, m: i32) -> NaiveDate {
    let total = start.year() * 12 + start.month0() as i32 + m;
    NaiveDate::from_ymd_opt(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1).unwrap()
}

fn days_in_month(first: NaiveDate) -> u32 {
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .unwrap();
    (next - first).num_days() as u32
}

/// Seasonal multiplier: a December peak, a November run-up, a January dip.
fn season(month: u32) -> f64 {
    [
        0.85, 0.9, 1.0, 1.0, 1.0, 0.95, 0.95, 1.0, 1.0, 1.05, 1.3, 1.75,
    ][month as usize - 1]
}

/// Relative busyness of a weekday: Saturdays and Fridays busiest, Sundays quiet.
fn weekday_weight(d: NaiveDate) -> f64 {
    [0.8, 0.8, 0.85, 0.9, 1.2, 1.5, 0.4][d.weekday().num_days_from_monday() as usize]
}

/// Days of month `m` on which customer `p` places a habitual order. Order k of the cycle is due
/// on phase + k × period; it is moved by up to ±12 % of the period (at most 10 days), then to a
/// busy weekday nearby, and skipped with probability 8 % — more in the three months before a
/// planted churn, when the habit breaks (skips rise to 45 %, 70 %, 83 %), and always from the
/// churn month on. Every draw comes from the order's own stream, so each month finds exactly the
/// orders that fall into it.
fn cycle_days(
    settings: &GenerateSettings,
    p: &Profile,
    m: i32,
    first: NaiveDate,
    ndays: u32,
) -> Vec<u32> {
    let (period, phase) = p.cycle(settings.seed, settings.start);
    let d0 = (first - settings.start).num_days() as f64;
    let jitter = (0.12 * period).min(10.0);
    let lo = ((d0 - jitter - 4.0 - phase) / period).floor().max(0.0) as i64;
    let hi = ((d0 + ndays as f64 + jitter + 4.0 - phase) / period).ceil() as i64;
    let signup = if p.signup_month >= 0 {
        phase
    } else {
        f64::NEG_INFINITY
    };
    let mut out = Vec::new();
    for k in lo..=hi {
        let mut r = Rng::stream(&[settings.seed, STREAM_CYCLE_ORDER, p.index, k as u64]);
        let due = (phase + k as f64 * period + (2.0 * r.f64() - 1.0) * jitter).max(signup);
        let base = settings.start + Duration::days(due.floor() as i64);
        // A busy weekday within two days.
        let cands: Vec<NaiveDate> = (-2..=2).map(|o| base + Duration::days(o)).collect();
        let w: Vec<f64> = cands.iter().map(|d| weekday_weight(*d)).collect();
        let mut date = cands[r.weighted(&w)];
        if date < settings.start + Duration::days(signup.max(0.0).ceil() as i64)
            && signup.is_finite()
        {
            date = settings.start + Duration::days(signup.ceil() as i64);
        }
        let skip = r.chance(0.08);
        let om = (date.year() - settings.start.year()) * 12 + date.month() as i32
            - settings.start.month() as i32;
        let keep = match p.churn_month {
            Some(c) if om >= c => false,
            Some(c) if om >= c - 3 => r.chance(0.55f64.powi(om - (c - 4))),
            _ => true,
        };
        if om == m && !skip && keep {
            out.push(date.day());
        }
    }
    out
}

/// A campaign planted every third month from month 1; responders buy more while it runs.
#[derive(Debug, Clone)]
struct Campaign {
    id: String,
    name: String,
    channel: &'static str,
    start: NaiveDate,
    end: NaiveDate,
    cost: f64,
    month: i32,
}

fn campaign(start: NaiveDate, k: i32) -> Campaign {
    let month = 1 + 3 * k;
    let first = month_start(start, month);
    let channel = ["email", "sms", "direct_mail", "phone"][k as usize % 4];
    let theme = ["Spring", "Summer", "Back to school", "Holiday"][k as usize % 4];
    Campaign {
        id: format!("CMP{:03}", k + 1),
        name: format!("{theme} offer {}", first.year()),
        channel,
        start: first + Duration::days(4),
        end: first + Duration::days(25),
        cost: 20_000.0 + 5_000.0 * (k % 5) as f64,
        month,
    }
}

/// Whether customer `p` is targeted by campaign `k`, and whether they respond.
fn campaign_exposure(seed: u64, p: &Profile, k: i32) -> (bool, bool) {
    let mut r = Rng::stream(&[seed, STREAM_CAMPAIGN, p.index, k as u64]);
    let targeted = r.chance(0.35);
    let respond_p = match p.group {
        Group::BargainHunter => 0.45,
        Group::LoyalHighSpender => 0.30,
        _ => 0.18,
    };
    (targeted, targeted && r.chance(respond_p))
}

/// Writes the whole dataset.
pub fn generate(settings: &GenerateSettings) -> Result<GenerateSummary> {
    if settings.customers == 0 {
        return Err(Error::params("customers", "must be at least 1"));
    }
    if settings.months == 0 {
        return Err(Error::params("months", "must be at least 1"));
    }
    if !(0.0..=0.5).contains(&settings.dirty_rate) {
        return Err(Error::params(
            "dirty_rate",
            format!(
                "{} is out of range: use a share between 0 and 0.5",
                settings.dirty_rate
            ),
        ));
    }
    let out = &settings.out;
    fs::create_dir_all(out.join("sales")).map_err(|e| Error::io(out, e))?;
    fs::create_dir_all(out.join("contacts")).map_err(|e| Error::io(out, e))?;
    let mut summary = GenerateSummary::default();
    write_products(out)?;
    write_stores(out)?;
    write_campaigns(settings)?;
    summary.customers = write_customers(settings)?;

    // Months are independent streams: generate them in parallel, write each to its own file.
    let months: Vec<u32> = (0..settings.months).collect();
    let per_month: Vec<Result<MonthResult>> = months
        .par_iter()
        .map(|&m| write_month(settings, m as i32))
        .collect();
    let mut defects = Vec::new();
    for r in per_month {
        let (s, c, d) = r?;
        summary.sales_lines += s;
        summary.contacts += c;
        defects.extend(d);
    }
    summary.defects = defects.len() as u64;
    let path = out.join("planted_defects.csv");
    let mut w = BufWriter::new(File::create(&path).map_err(|e| Error::io(&path, e))?);
    let io = |e| Error::io(&path, e);
    writeln!(w, "file,line,kind").map_err(io)?;
    for (file, line, kind) in &defects {
        writeln!(w, "{file},{line},{kind}").map_err(io)?;
    }
    w.flush().map_err(io)?;
    Ok(summary)
}

fn create(path: &Path) -> Result<BufWriter<File>> {
    Ok(BufWriter::with_capacity(
        1 << 20,
        File::create(path).map_err(|e| Error::io(path, e))?,
    ))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn write_products(out: &Path) -> Result<()> {
    let path = out.join("products.csv");
    let mut w = create(&path)?;
    let mut text =
        String::from("product_id,name,category,subcategory,brand,unit_price,unit_cost\n");
    for p in PRODUCTS {
        text.push_str(&format!(
            "{},{},{},{},{},{:.2},{:.2}\n",
            p.id,
            csv_field(p.name),
            p.category,
            p.subcategory,
            p.brand,
            p.price,
            p.price * p.cost_ratio
        ));
    }
    w.write_all(text.as_bytes())
        .map_err(|e| Error::io(&path, e))?;
    w.flush().map_err(|e| Error::io(&path, e))
}

fn write_stores(out: &Path) -> Result<()> {
    let path = out.join("stores.csv");
    let mut text = String::from("store_id,name,city,region,channel\n");
    for s in STORES {
        text.push_str(&format!("{},{},{},{},{}\n", s.0, s.1, s.2, s.3, s.4));
    }
    fs::write(&path, text).map_err(|e| Error::io(&path, e))
}

fn campaigns_in_range(settings: &GenerateSettings) -> Vec<Campaign> {
    (0..)
        .map(|k| campaign(settings.start, k))
        .take_while(|c| c.month < settings.months as i32)
        .collect()
}

fn write_campaigns(settings: &GenerateSettings) -> Result<()> {
    let path = settings.out.join("campaigns.csv");
    let mut text = String::from("campaign_id,name,channel,start_date,end_date,cost\n");
    for c in campaigns_in_range(settings) {
        text.push_str(&format!(
            "{},{},{},{},{},{:.2}\n",
            c.id, c.name, c.channel, c.start, c.end, c.cost
        ));
    }
    fs::write(&path, text).map_err(|e| Error::io(&path, e))
}
/// Names of the planted behaviour groups, for documentation and tests.
pub fn group_names() -> Vec<&'static str> {
    [
        Group::LoyalHighSpender,
        Group::BargainHunter,
        Group::Occasional,
        Group::Family,
        Group::NewCustomer,
    ]
    .iter()
    .map(|g| g.name())
    .collect()
}
