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

fn write_customers(settings: &GenerateSettings) -> Result<u64> {
    let path = settings.out.join("customers.csv");
    let mut w = create(&path)?;
    let io = |e| Error::io(&path, e);
    writeln!(
        w,
        "customer_id,name,email,phone,city,region,country,gender,birth_date,signup_date,channel,updated_at,email_opt_in,phone_opt_in,do_not_contact"
    )
    .map_err(io)?;
    let end = month_start(settings.start, settings.months as i32);
    let mut n = 0;
    for i in 0..settings.customers {
        let p = Profile::new(settings.seed, i);
        if p.signup_month >= settings.months as i32 {
            continue;
        }
        let signup = month_start(settings.start, p.signup_month)
            .with_day(p.signup_day)
            .unwrap();
        let last_day = end - Duration::days(1);
        let city = p.city_on(settings.start, last_day);
        let updated = match p.moves {
            Some((m, d, _)) if city != p.city => {
                month_start(settings.start, m).with_day(d).unwrap()
            }
            _ => signup,
        };
        let first = FIRST_NAMES[p.first];
        let last = LAST_NAMES[p.last];
        // A moved customer also changes phone (new landline prefix): a real SCD2 attribute change.
        let phone_prefix = 30 + city as u64;
        let consent = Consent::of(settings.seed, &p, settings.months as i32);
        writeln!(
            w,
            "{},{} {},{}.{}{}@example.com,+49 {} {:07},{},{},{},{},{},{},{},{},{},{},{}",
            p.customer_id(),
            first,
            last,
            first.to_lowercase(),
            last.to_lowercase(),
            p.index + 1,
            phone_prefix,
            (p.index * 7919) % 10_000_000,
            CITIES[city].0,
            CITIES[city].1,
            CITIES[city].2,
            p.gender,
            p.birth,
            signup,
            p.channel,
            updated,
            consent.email_opt_in,
            consent.phone_opt_in,
            consent.do_not_contact
        )
        .map_err(io)?;
        n += 1;
    }
    w.flush().map_err(io)?;
    Ok(n)
}

/// A customer's contact permissions in the customer file. Drawn from a stream of their own (a
/// hash of seed and customer), so that adding them changed no other planted value: about 4%
/// refuse e-mail and 6% phone calls from the start, 2% want no contact at all, and a quarter of
/// the customers who churn after their complaints opt out of all contact.
pub struct Consent {
    /// Agrees to marketing e-mail.
    pub email_opt_in: bool,
    /// Agrees to marketing calls.
    pub phone_opt_in: bool,
    /// Wants no marketing contact at all.
    pub do_not_contact: bool,
}

impl Consent {
    /// The permissions of `p` as of the end of a `months`-month dataset.
    pub fn of(seed: u64, p: &Profile, months: i32) -> Consent {
        let mut h = seed ^ p.index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x0063_6f6e_7365_6e74;
        let mut draw = || {
            // splitmix64
            h = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = h;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) % 100
        };
        let (e, ph, dnc, after_complaints) = (draw(), draw(), draw(), draw());
        let churned = p.churn_month.is_some_and(|m| m < months);
        Consent {
            email_opt_in: e >= 4,
            phone_opt_in: ph >= 6,
            do_not_contact: dnc < 2 || (churned && after_complaints < 25),
        }
    }
}

/// Product indices by role, computed once per month writer.
struct Assortment {
    by_category: Vec<(&'static str, Vec<usize>)>,
    razors: Vec<usize>,
    diapers: Vec<usize>,
}

impl Assortment {
    fn new() -> Self {
        let mut by_category: Vec<(&'static str, Vec<usize>)> = Vec::new();
        for (i, p) in PRODUCTS.iter().enumerate() {
            match by_category.iter_mut().find(|(c, _)| *c == p.category) {
                Some((_, v)) => v.push(i),
                None => by_category.push((p.category, vec![i])),
            }
        }
        let razors = (0..PRODUCTS.len())
            .filter(|&i| PRODUCTS[i].subcategory == "Razors")
            .collect();
        let diapers = (0..PRODUCTS.len())
            .filter(|&i| PRODUCTS[i].subcategory == "Diapers")
            .collect();
        Assortment {
            by_category,
            razors,
            diapers,
        }
    }

    fn category_weights(&self, group: Group) -> Vec<f64> {
        self.by_category
            .iter()
            .map(|(c, _)| match (group, *c) {
                (Group::Family, "Baby") => 3.0,
                (Group::Family, "Household") => 2.0,
                (Group::Family, "Snacks") => 1.5,
                (_, "Baby") => 0.15,
                (Group::LoyalHighSpender, "Electronics") => 3.0,
                (Group::LoyalHighSpender, "Personal care") => 1.8,
                (Group::BargainHunter, "Electronics") => 0.2,
                (Group::BargainHunter, "Grocery") => 2.2,
                (Group::BargainHunter, "Household") => 1.5,
                (Group::NewCustomer, "Snacks") => 2.5,
                (Group::NewCustomer, "Beverages") => 2.5,
                (Group::NewCustomer, "Household") => 0.5,
                (Group::Occasional, "Grocery") => 0.6,
                (_, "Grooming") => 0.6,
                _ => 1.0,
            })
            .collect()
    }
}

type MonthResult = (u64, u64, Vec<(String, u64, &'static str)>);

/// What every customer's rows of one month share.
struct Month<'a> {
    settings: &'a GenerateSettings,
    /// Months since the start.
    m: i32,
    first: NaiveDate,
    /// yyyymm, the prefix of the month's order and contact ids.
    compact: String,
    ndays: u32,
    assortment: Assortment,
    campaigns: Vec<Campaign>,
    /// Stores that are not shops (online, phone, partner).
    online: Vec<usize>,
}

/// Generates and writes the sales and contacts files of month `m`.
fn write_month(settings: &GenerateSettings, m: i32) -> Result<MonthResult> {
    let first = month_start(settings.start, m);
    let label = format!("{}-{:02}", first.year(), first.month());
    let sales_rel = format!("sales/{label}.csv");
    let contacts_rel = format!("contacts/{label}.csv");
    let sales_path = settings.out.join(&sales_rel);
    let contacts_path = settings.out.join(&contacts_rel);
    let mut sales = Dirty::new(settings, &sales_rel, m, create(&sales_path)?);
    let mut contacts = Dirty::new(settings, &contacts_rel, m + 10_000, create(&contacts_path)?);
    sales.header(
        "order_id,line_no,order_ts,customer_id,product_id,store_id,quantity,unit_price,discount",
    )?;
    contacts.header("contact_id,contact_ts,customer_id,channel,direction,contact_type,campaign_id,outcome,duration_s,satisfaction")?;
    let month = Month {
        settings,
        m,
        first,
        compact: label.replace('-', ""),
        ndays: days_in_month(first),
        assortment: Assortment::new(),
        campaigns: (0..)
            .map(|k| campaign(settings.start, k))
            .take_while(|c| c.month <= m)
            .filter(|c| c.month == m)
            .collect(),
        online: (0..STORES.len())
            .filter(|&s| STORES[s].4 != "store")
            .collect(),
    };
    for i in 0..settings.customers {
        write_customer(&month, i, &mut sales, &mut contacts)?;
    }
    let mut defects = sales.finish(&sales_path)?;
    defects.extend(contacts.finish(&contacts_path)?);
    Ok((sales.lines, contacts.lines, defects))
}

/// Customer `i`'s campaign contacts, orders and service contacts of the month.
fn write_customer(month: &Month, i: u64, sales: &mut Dirty, contacts: &mut Dirty) -> Result<()> {
    let (settings, m) = (month.settings, month.m);
    let p = Profile::new(settings.seed, i);
    if p.signup_month > m {
        return Ok(());
    }
    let mut r = Rng::stream(&[settings.seed, STREAM_SALES, i, m as u64]);
    let mut rc = Rng::stream(&[settings.seed, STREAM_CONTACTS, i, m as u64]);
    // Churn trajectory: normal, then three months of falling purchases and complaints, then gone.
    let (churn_factor, in_decline) = match p.churn_month {
        Some(c) if m >= c => (0.0, false),
        Some(c) if m >= c - 3 => (0.55f64.powi(m - (c - 4)), true),
        _ => (1.0, false),
    };
    let responded = campaign_contacts(month, &p, i, churn_factor, &mut rc, contacts)?;
    let days = order_days(month, &p, churn_factor, responded, &mut r);
    let weights = month.assortment.category_weights(p.group);
    for (o, &day) in days.iter().enumerate() {
        write_order(month, &p, i, o as u32, day, &weights, &mut r, sales)?;
    }
    service_contacts(month, &p, i, in_decline, &mut rc, contacts)
}

/// The campaigns of the month that target the customer; returns the day of the one they
/// responded to, if any.
fn campaign_contacts(
    month: &Month,
    p: &Profile,
    i: u64,
    churn_factor: f64,
    rc: &mut Rng,
    contacts: &mut Dirty,
) -> Result<Option<u32>> {
    let mut responded = None;
    for c in &month.campaigns {
        let k = (c.month - 1) / 3;
        let (targeted, responds) = campaign_exposure(month.settings.seed, p, k);
        if targeted && churn_factor > 0.0 {
            let day = c.start.day();
            let outcome = if responds { "converted" } else { "no_response" };
            contacts.row(&format!(
                "K{}{:07}C{},{} 09:{:02}:00,{},{},outbound,campaign,{},{},0,",
                month.compact,
                i + 1,
                k,
                c.start,
                rc.below(60),
                p.customer_id(),
                if c.channel == "direct_mail" {
                    "email"
                } else {
                    c.channel
                },
                c.id,
                outcome
            ))?;
            if responds {
                responded = Some(day);
            }
        }
    }
    Ok(responded)
}

/// Order days of the month: the habitual cycle, seasonal extra orders, a campaign response and
/// a move (a customer who moves shops soon after, setting up the new home, so every move shows
/// up in the facts of the new customer version).
fn order_days(
    month: &Month,
    p: &Profile,
    churn_factor: f64,
    responded: Option<u32>,
    r: &mut Rng,
) -> Vec<u32> {
    let (first, ndays, m) = (month.first, month.ndays, month.m);
    let move_day = match p.moves {
        Some((mm, d, _)) if mm == m && churn_factor > 0.0 => Some(d),
        _ => None,
    };
    let mut days: Vec<u32> = cycle_days(month.settings, p, m, first, ndays);
    let extra = p.order_rate() * (season(first.month()) - 0.85).max(0.0) * churn_factor;
    for _ in 0..r.poisson(extra) {
        // Weekly rhythm: Saturdays and Fridays busiest, Sundays quiet (shops closed).
        let day = loop {
            let d = r.range(1, ndays as i64) as u32;
            if r.chance(weekday_weight(first.with_day(d).unwrap()) / 1.5) {
                break d;
            }
        };
        days.push(if p.signup_month == m {
            day.max(p.signup_day)
        } else {
            day
        });
    }
    if let Some(d) = responded {
        days.push((d + r.range(0, 10) as u32).min(ndays));
    }
    if let Some(d) = move_day {
        days.push((d + r.range(0, 3) as u32).min(ndays));
    }
    days.sort_unstable();
    days
}

/// The products of one order: lines by the customer's category weights, and the
/// razor-and-diaper pattern (a basket with a razor gets diapers most of the time).
fn basket(month: &Month, p: &Profile, weights: &[f64], r: &mut Rng) -> Vec<usize> {
    let assortment = &month.assortment;
    let mut items: Vec<usize> = Vec::new();
    let n_lines = 1 + r.poisson(match p.group {
        Group::LoyalHighSpender => 3.0,
        Group::Family => 2.6,
        Group::BargainHunter => 1.6,
        Group::Occasional => 1.0,
        Group::NewCustomer => 1.5,
    }) as usize;
    for _ in 0..n_lines {
        let cat = r.weighted(weights);
        let prods = &assortment.by_category[cat].1;
        let mut prod = *r.pick(prods);
        if p.group == Group::BargainHunter && PRODUCTS[prod].price > 60.0 {
            prod = *r.pick(prods);
        }
        if !items.contains(&prod) {
            items.push(prod);
        }
    }
    if items.iter().any(|i| assortment.razors.contains(i))
        && !items.iter().any(|i| assortment.diapers.contains(i))
        && r.chance(0.7)
    {
        items.push(*r.pick(&assortment.diapers));
    }
    items
}

/// Order `o` of customer `i` on `day`: its lines, and now and then a return of its first line.
#[allow(clippy::too_many_arguments)]
fn write_order(
    month: &Month,
    p: &Profile,
    i: u64,
    o: u32,
    day: u32,
    weights: &[f64],
    r: &mut Rng,
    sales: &mut Dirty,
) -> Result<()> {
    let (first, ndays) = (month.first, month.ndays);
    let cid = p.customer_id();
    let date = first.with_day(day).unwrap();
    let ts = format!(
        "{} {:02}:{:02}:{:02}",
        date,
        r.range(8, 20),
        r.below(60),
        r.below(60)
    );
    let store = if r.chance(0.3) {
        *r.pick(&month.online)
    } else {
        p.home_store
    };
    let order_id = format!("SO{}{:07}{:02}", month.compact, i + 1, o);
    let items = basket(month, p, weights, r);
    for (ln, &prod) in items.iter().enumerate() {
        let pr = &PRODUCTS[prod];
        let discount = match p.group {
            Group::BargainHunter if r.chance(0.6) => *r.pick(&[0.1, 0.15, 0.2, 0.3]),
            _ if first.month() == 12 && r.chance(0.3) => 0.1,
            _ if r.chance(0.05) => 0.05,
            _ => 0.0,
        };
        let qty = if pr.subcategory == "Diapers" || pr.category == "Grocery" {
            r.range(1, 4)
        } else {
            r.range(1, 2)
        };
        sales.row(&format!(
            "{},{},{},{},{},{},{},{:.2},{}",
            order_id,
            ln + 1,
            ts,
            cid,
            pr.id,
            STORES[store].0,
            qty,
            pr.price,
            discount
        ))?;
    }
    // Occasional returns: a separate order with a negative quantity.
    if r.chance(0.02) {
        let pr = &PRODUCTS[items[0]];
        let rday = (day + r.range(1, 5) as u32).min(ndays);
        sales.row(&format!(
            "RT{}{:07}{:02},1,{} 12:00:00,{},{},{},-1,{:.2},0",
            month.compact,
            i + 1,
            o,
            first.with_day(rday).unwrap(),
            cid,
            pr.id,
            STORES[store].0,
            pr.price
        ))?;
    }
    Ok(())
}

/// Inbound contacts: service questions for everyone, complaints piling up before churn.
fn service_contacts(
    month: &Month,
    p: &Profile,
    i: u64,
    in_decline: bool,
    rc: &mut Rng,
    contacts: &mut Dirty,
) -> Result<()> {
    let service = rc.poisson(0.06);
    let complaints = if in_decline {
        rc.poisson(0.9)
    } else {
        rc.poisson(0.015)
    };
    for k in 0..service + complaints {
        let is_complaint = k >= service;
        let date = month
            .first
            .with_day(rc.range(1, month.ndays as i64) as u32)
            .unwrap();
        let channel = *rc.pick(&["phone", "email", "chat", "web", "visit"]);
        let (ctype, outcome, sat) = if is_complaint {
            let unresolved = rc.chance(if in_decline { 0.6 } else { 0.2 });
            (
                "complaint",
                if unresolved { "unresolved" } else { "resolved" },
                if unresolved {
                    rc.range(1, 2)
                } else {
                    rc.range(2, 4)
                },
            )
        } else {
            (
                *rc.pick(&["inquiry", "service"]),
                "resolved",
                rc.range(3, 5),
            )
        };
        contacts.row(&format!(
            "K{}{:07}S{:02},{} {:02}:{:02}:00,{},{},inbound,{},,{},{},{}",
            month.compact,
            i + 1,
            k,
            date,
            rc.range(8, 19),
            rc.below(60),
            p.customer_id(),
            channel,
            ctype,
            outcome,
            rc.range(30, 1800),
            sat
        ))?;
    }
    Ok(())
}

/// A CSV writer that plants malformed rows at the configured rate and remembers where.
struct Dirty<'a> {
    settings: &'a GenerateSettings,
    file: String,
    w: BufWriter<File>,
    dirt: Rng,
    line: u64,
    lines: u64,
    defects: Vec<(String, u64, &'static str)>,
    is_contacts: bool,
}

impl<'a> Dirty<'a> {
    fn new(settings: &'a GenerateSettings, file: &str, stream: i32, w: BufWriter<File>) -> Self {
        Dirty {
            settings,
            file: file.to_string(),
            w,
            dirt: Rng::stream(&[settings.seed, STREAM_DIRT, stream as u64]),
            line: 0,
            lines: 0,
            defects: Vec::new(),
            is_contacts: file.starts_with("contacts"),
        }
    }

    fn header(&mut self, h: &str) -> Result<()> {
        self.line += 1;
        writeln!(self.w, "{h}").map_err(|e| Error::io(Path::new(&self.file), e))
    }

    fn emit(&mut self, bytes: &[u8]) -> Result<()> {
        self.line += 1;
        self.lines += 1;
        self.w
            .write_all(bytes)
            .and_then(|_| self.w.write_all(b"\n"))
            .map_err(|e| Error::io(Path::new(&self.file), e))
    }

    /// Writes `row`, possibly malformed. Dirt has its own random stream, so clean and dirty
    /// datasets of the same seed contain the same clean rows.
    fn row(&mut self, row: &str) -> Result<()> {
        if self.settings.dirty_rate == 0.0 || !self.dirt.chance(self.settings.dirty_rate) {
            return self.emit(row.as_bytes());
        }
        let mut fields: Vec<String> = row.split(',').map(str::to_string).collect();
        let kinds: &[&'static str] = if self.is_contacts {
            &[
                "unparseable_date",
                "missing_id",
                "unknown_customer",
                "exact_duplicate",
                "wrong_column_count",
                "invalid_utf8",
                "satisfaction_out_of_range",
            ]
        } else {
            &[
                "unparseable_date",
                "non_numeric_quantity",
                "non_numeric_price",
                "missing_id",
                "unknown_customer",
                "unknown_product",
                "exact_duplicate",
                "wrong_column_count",
                "invalid_utf8",
                "negative_price",
            ]
        };
        let kind = *self.dirt.pick(kinds);
        let mut bytes: Vec<u8>;
        let (ts, cust) = if self.is_contacts { (1, 2) } else { (2, 3) };
        match kind {
            "unparseable_date" => {
                fields[ts] =
                    (*self
                        .dirt
                        .pick(&["2024-13-45 10:00:00", "31/02/2024 10:00", "yesterday"]))
                    .to_string()
            }
            "non_numeric_quantity" => {
                fields[6] = (*self.dirt.pick(&["three", "1,5", "x"])).to_string()
            }
            "non_numeric_price" => {
                fields[7] = (*self.dirt.pick(&["12.x", "N/A", "€9.99"])).to_string()
            }
            "missing_id" => fields[cust] = String::new(),
            "unknown_customer" => fields[cust] = format!("C9{:06}", self.dirt.below(1_000_000)),
            "unknown_product" => fields[4] = format!("P-UNKNOWN-{}", self.dirt.below(100)),
            "negative_price" => fields[7] = format!("-{}", fields[7]),
            "satisfaction_out_of_range" => fields[9] = "9".to_string(),
            "wrong_column_count" => {
                fields.pop();
            }
            _ => {}
        }
        if kind == "non_numeric_quantity" && fields[6] == "1,5" {
            fields[6] = "\"1,5\"".to_string();
        }
        if kind == "non_numeric_price" && fields[7] == "€9.99" {
            // Stays valid UTF-8: a currency symbol is not a number.
        }
        bytes = fields.join(",").into_bytes();
        if kind == "invalid_utf8" {
            // A Latin-1 byte where UTF-8 is expected, as in a mis-encoded export.
            let pos = bytes
                .iter()
                .position(|&b| b == b',')
                .unwrap_or(1)
                .saturating_sub(1);
            bytes.insert(pos, 0xE9);
        }
        if kind == "exact_duplicate" {
            self.emit(&bytes)?;
        }
        self.emit(&bytes)?;
        let line = self.line;
        self.defects.push((self.file.clone(), line, kind));
        Ok(())
    }

    fn finish(&mut self, path: &Path) -> Result<Vec<(String, u64, &'static str)>> {
        self.w.flush().map_err(|e| Error::io(path, e))?;
        Ok(std::mem::take(&mut self.defects))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_start_crosses_years_both_ways() {
        let s = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap();
        assert_eq!(
            month_start(s, 13),
            NaiveDate::from_ymd_opt(2024, 2, 1).unwrap()
        );
        assert_eq!(
            month_start(s, -1),
            NaiveDate::from_ymd_opt(2022, 12, 1).unwrap()
        );
    }

    #[test]
    fn profiles_do_not_depend_on_population_size() {
        let a = Profile::new(7, 123);
        let b = Profile::new(7, 123);
        assert_eq!(a.customer_id(), b.customer_id());
        assert_eq!(a.group, b.group);
        assert_eq!(a.churn_month, b.churn_month);
    }
}
