//! `crm-mart query`: every named query checked against the same answer computed independently
//! here, in plain Rust over the mart's raw rows; the output formats; parameters; time travel;
//! attached tables; and bad input.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::common::{cmd, etl, expect_bad_input, generate};

type Row = Map<String, Value>;

/// A mart shared by the read-only tests here: 300 customers over 15 months, no defects.
fn mart() -> &'static Path {
    static MART: OnceLock<PathBuf> = OnceLock::new();
    MART.get_or_init(|| {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        // Leftovers of earlier runs whose process is gone.
        if let Ok(entries) = std::fs::read_dir(&base) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("query-fixture-")
                    && !Path::new("/proc").join(pid).exists()
                {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = base.join(format!("query-fixture-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let src = generate(&dir, 300, 15, 0.0);
        etl(&dir, &src, &dir.join("mart"));
        dir.join("mart")
    })
}

/// Runs `crm-mart query --mart M --format jsonl ARGS` and parses the rows.
fn query(mart: &Path, args: &[&str]) -> Vec<Row> {
    let out = cmd(mart.parent().unwrap())
        .arg("query")
        .arg("--mart")
        .arg(mart)
        .args(["--format", "jsonl"])
        .args(args)
        .assert()
        .success();
    String::from_utf8(out.get_output().stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Row>(l).unwrap())
        .collect()
}

fn named(name: &str, params: &[&str]) -> Vec<Row> {
    let mut args = vec!["--name", name];
    for p in params {
        args.push("--param");
        args.push(p);
    }
    query(mart(), &args)
}

fn s(r: &Row, k: &str) -> String {
    match r.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

fn f(r: &Row, k: &str) -> f64 {
    match r.get(k) {
        Some(Value::Number(n)) => n.as_f64().unwrap(),
        Some(Value::Null) | None => f64::NAN,
        Some(v) => panic!("{k} is not a number: {v}"),
    }
}

fn i(r: &Row, k: &str) -> i64 {
    let x = f(r, k);
    assert!(x.fract() == 0.0, "{k} = {x} is not whole");
    x as i64
}

fn b(r: &Row, k: &str) -> bool {
    r.get(k).and_then(Value::as_bool).unwrap_or(false)
}

#[track_caller]
fn close(got: f64, want: f64, what: &str) {
    let tol = 1e-9 * want.abs().max(1.0);
    assert!(
        (got - want).abs() <= tol || (got.is_nan() && want.is_nan()),
        "{what}: got {got}, want {want}"
    );
}

// ---- the mart's raw rows, loaded without any aggregation ----

struct Customer {
    id: String,
    region: String,
    channel: String,
    birth_year: Option<i64>,
    current: bool,
}

struct Sale {
    order_id: String,
    date_key: i64,
    t: f64,
    customer: Option<String>,
    customer_key: i64,
    product_key: i64,
    store_key: i64,
    quantity: f64,
    net: f64,
    margin: Option<f64>,
    is_return: bool,
}

struct Contact {
    t: f64,
    customer: Option<String>,
    campaign_key: Option<i64>,
    channel: String,
    contact_type: String,
    outcome: String,
    satisfaction: Option<f64>,
}

struct Data {
    customers: HashMap<i64, Customer>,
    products: HashMap<i64, (String, String, String, String)>,
    stores: HashMap<i64, (String, String, String)>,
    dates: HashMap<i64, (i64, i64, i64)>,
    campaigns: HashMap<i64, (String, f64, f64)>,
    sales: Vec<Sale>,
    contacts: Vec<Contact>,
}

fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| {
        let m = mart();
        let mut customers = HashMap::new();
        for r in query(
            m,
            &["SELECT customer_key, customer_id, region, channel, birth_year, is_current FROM dim_customer"],
        ) {
            customers.insert(
                i(&r, "customer_key"),
                Customer {
                    id: s(&r, "customer_id"),
                    region: r
                        .get("region")
                        .and_then(Value::as_str)
                        .unwrap_or("(unknown)")
                        .to_string(),
                    channel: r
                        .get("channel")
                        .and_then(Value::as_str)
                        .unwrap_or("(unknown)")
                        .to_string(),
                    birth_year: r.get("birth_year").and_then(Value::as_i64),
                    current: b(&r, "is_current"),
                },
            );
        }
        let products = query(
            m,
            &["SELECT product_key, product_id, name, category, subcategory FROM dim_product"],
        )
        .into_iter()
        .map(|r| {
            (
                i(&r, "product_key"),
                (
                    s(&r, "product_id"),
                    s(&r, "name"),
                    s(&r, "category"),
                    s(&r, "subcategory"),
                ),
            )
        })
        .collect();
        let stores = query(m, &["SELECT store_key, store_id, name, region, channel FROM dim_store"])
            .into_iter()
            .map(|r| {
                (
                    i(&r, "store_key"),
                    (
                        format!("{} {}", s(&r, "store_id"), s(&r, "name")),
                        s(&r, "region"),
                        s(&r, "channel"),
                    ),
                )
            })
            .collect();
        let dates = query(m, &["SELECT date_key, year, quarter, month FROM dim_date"])
            .into_iter()
            .map(|r| {
                (
                    i(&r, "date_key"),
                    (i(&r, "year"), i(&r, "quarter"), i(&r, "month")),
                )
            })
            .collect();
        let campaigns = query(
            m,
            &["SELECT campaign_key, campaign_id, date_part('epoch', CAST(start_date AS TIMESTAMP)) AS start, cost FROM dim_campaign"],
        )
        .into_iter()
        .map(|r| {
            (
                i(&r, "campaign_key"),
                (s(&r, "campaign_id"), f(&r, "start"), f(&r, "cost")),
            )
        })
        .collect();
        let ck = |k: i64, cs: &HashMap<i64, Customer>| (k != 0).then(|| cs[&k].id.clone());
        let sales = query(
            m,
            &["SELECT order_id, date_key, date_part('epoch', order_ts) AS t, customer_key, product_key, store_key, quantity, net_amount, margin, is_return FROM fact_sales"],
        )
        .into_iter()
        .map(|r| Sale {
            order_id: s(&r, "order_id"),
            date_key: i(&r, "date_key"),
            t: f(&r, "t"),
            customer: ck(i(&r, "customer_key"), &customers),
            customer_key: i(&r, "customer_key"),
            product_key: i(&r, "product_key"),
            store_key: i(&r, "store_key"),
            quantity: f(&r, "quantity"),
            net: f(&r, "net_amount"),
            margin: r.get("margin").and_then(Value::as_f64),
            is_return: b(&r, "is_return"),
        })
        .collect();
        let contacts = query(
            m,
            &["SELECT contact_id, date_part('epoch', contact_ts) AS t, customer_key, campaign_key, channel, contact_type, outcome, satisfaction FROM fact_contacts"],
        )
        .into_iter()
        .map(|r| Contact {
            t: f(&r, "t"),
            customer: ck(i(&r, "customer_key"), &customers),
            campaign_key: r.get("campaign_key").and_then(Value::as_i64),
            channel: r
                .get("channel")
                .and_then(Value::as_str)
                .unwrap_or("(unknown)")
                .to_string(),
            contact_type: s(&r, "contact_type"),
            outcome: s(&r, "outcome"),
            satisfaction: r.get("satisfaction").and_then(Value::as_f64),
        })
        .collect();
        Data {
            customers,
            products,
            stores,
            dates,
            campaigns,
            sales,
            contacts,
        }
    })
}

impl Data {
    fn current(&self) -> HashMap<&str, &Customer> {
        self.customers
            .iter()
            .filter(|(k, c)| **k != 0 && c.current)
            .map(|(_, c)| (c.id.as_str(), c))
            .collect()
    }

    /// Distinct non-return orders of known customers: (customer, order) → (first time, date_key).
    fn orders(&self) -> BTreeMap<(String, String), (f64, i64)> {
        let mut o: BTreeMap<(String, String), (f64, i64)> = BTreeMap::new();
        for x in &self.sales {
            let Some(c) = &x.customer else { continue };
            if x.is_return {
                continue;
            }
            let e = o
                .entry((c.clone(), x.order_id.clone()))
                .or_insert((x.t, x.date_key));
            if x.t < e.0 {
                e.0 = x.t;
            }
            e.1 = e.1.min(x.date_key);
        }
        o
    }
}

// ---- the named queries ----

#[test]
fn profiling_customer_mix_matches_an_independent_count() {
    let d = data();
    let cur = d.current();
    let ref_year = d
        .sales
        .iter()
        .map(|x| d.dates[&x.date_key].0)
        .max()
        .unwrap();
    let mut revenue: HashMap<&str, f64> = HashMap::new();
    for x in &d.sales {
        if let Some(c) = &x.customer {
            *revenue.entry(c.as_str()).or_default() += x.net;
        }
    }
    let band = |by: Option<i64>| match by.map(|y| ref_year - y) {
        None => "(unknown)",
        Some(a) if a < 25 => "<25",
        Some(a) if a < 35 => "25-34",
        Some(a) if a < 45 => "35-44",
        Some(a) if a < 55 => "45-54",
        Some(a) if a < 65 => "55-64",
        Some(_) => "65+",
    };
    let mut want: BTreeMap<(String, String), (i64, i64, f64)> = BTreeMap::new();
    for (id, c) in &cur {
        for (dim, bucket) in [
            ("region", c.region.as_str()),
            ("channel", c.channel.as_str()),
            ("age_band", band(c.birth_year)),
        ] {
            let e = want
                .entry((dim.to_string(), bucket.to_string()))
                .or_default();
            e.0 += 1;
            if let Some(r) = revenue.get(id) {
                e.1 += 1;
                e.2 += r;
            }
        }
    }
    let got = named("profiling_customer_mix", &[]);
    assert_eq!(got.len(), want.len());
    for r in &got {
        let key = (s(r, "dimension"), s(r, "bucket"));
        let (n, buyers, rev) = want[&key];
        assert_eq!(i(r, "customers"), n, "{key:?}");
        assert_eq!(i(r, "buyers"), buyers, "{key:?}");
        close(f(r, "revenue"), rev, "revenue");
        close(f(r, "share"), n as f64 / cur.len() as f64, "share");
    }
    // min_customers leaves out the small groups.
    let big = named("profiling_customer_mix", &["min_customers=50"]);
    assert_eq!(
        big.len(),
        want.values().filter(|v| v.0 >= 50).count(),
        "min_customers=50"
    );
}

#[test]
fn repeat_rate_matches_an_independent_count() {
    let d = data();
    let cur = d.current();
    let mut per: HashMap<String, i64> = HashMap::new();
    for (c, _) in d.orders().keys() {
        *per.entry(c.clone()).or_default() += 1;
    }
    let mut want: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (c, n) in &per {
        for key in [cur[c.as_str()].region.clone(), "(all)".to_string()] {
            let e = want.entry(key).or_default();
            e.0 += 1;
            e.1 += (*n >= 2) as i64;
        }
    }
    let got = named("persistency_repeat_rate", &[]);
    assert_eq!(got.len(), want.len());
    assert_eq!(s(got.last().unwrap(), "region"), "(all)");
    for r in &got {
        let (buyers, repeat) = want[&s(r, "region")];
        assert_eq!(i(r, "buyers"), buyers);
        assert_eq!(i(r, "repeat_buyers"), repeat);
        close(
            f(r, "repeat_rate"),
            repeat as f64 / buyers as f64,
            "repeat_rate",
        );
    }
    // A one-month window: fewer buyers, counted again independently.
    let (from, to) = (20230301, 20230331);
    let mut per: HashMap<String, i64> = HashMap::new();
    for ((c, _), (_, dk)) in d.orders() {
        if (from..=to).contains(&dk) {
            *per.entry(c).or_default() += 1;
        }
    }
    let got = named(
        "persistency_repeat_rate",
        &["from_date=2023-03-01", "to_date=2023-03-31"],
    );
    let all = got.iter().find(|r| s(r, "region") == "(all)").unwrap();
    assert_eq!(i(all, "buyers"), per.len() as i64);
    assert_eq!(
        i(all, "repeat_buyers"),
        per.values().filter(|n| **n >= 2).count() as i64
    );
}

#[test]
fn cohort_retention_matches_an_independent_count() {
    let d = data();
    let mut months: HashMap<String, BTreeSet<i64>> = HashMap::new();
    for x in &d.sales {
        let Some(c) = &x.customer else { continue };
        if x.is_return {
            continue;
        }
        let (y, _, m) = d.dates[&x.date_key];
        months.entry(c.clone()).or_default().insert(y * 12 + m - 1);
    }
    let mut want: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut sizes: HashMap<String, i64> = HashMap::new();
    for ms in months.values() {
        let first = *ms.iter().next().unwrap();
        let label = format!("{}-{:02}", first / 12, first % 12 + 1);
        *sizes.entry(label.clone()).or_default() += 1;
        for m in ms {
            if m - first <= 6 {
                *want.entry((label.clone(), m - first)).or_default() += 1;
            }
        }
    }
    let got = named("persistency_cohort_retention", &["max_months=6"]);
    assert_eq!(got.len(), want.len());
    for r in &got {
        let key = (s(r, "cohort"), i(r, "months_since"));
        assert_eq!(i(r, "active_customers"), want[&key], "{key:?}");
        assert_eq!(i(r, "cohort_size"), sizes[&key.0]);
        if key.1 == 0 {
            close(f(r, "retention"), 1.0, "month 0 retention");
        }
    }
}

#[test]
fn profitability_deciles_match_an_independent_ranking() {
    let d = data();
    let mut per: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for x in &d.sales {
        if let Some(c) = &x.customer {
            let e = per.entry(c.clone()).or_default();
            e.0 += x.net;
            e.1 += x.margin.unwrap_or(0.0);
        }
    }
    let mut ranked: Vec<(String, f64, f64)> =
        per.into_iter().map(|(c, (r, m))| (c, r, m)).collect();
    ranked.sort_by(|a, b| b.2.partial_cmp(&a.2).unwrap().then(a.0.cmp(&b.0)));
    let n = ranked.len();
    let total: f64 = ranked.iter().map(|x| x.2).sum();
    // NTILE(10): the first n % 10 groups have one more row.
    let (base, extra) = (n / 10, n % 10);
    let mut at = 0;
    let mut cum = 0.0;
    let got = named("profitability_deciles", &[]);
    assert_eq!(got.len(), 10);
    for (k, r) in got.iter().enumerate() {
        let size = base + usize::from(k < extra);
        let group = &ranked[at..at + size];
        at += size;
        let margin: f64 = group.iter().map(|x| x.2).sum();
        cum += margin;
        assert_eq!(i(r, "decile"), k as i64 + 1);
        assert_eq!(i(r, "customers"), size as i64);
        close(f(r, "margin"), margin, "decile margin");
        close(
            f(r, "revenue"),
            group.iter().map(|x| x.1).sum(),
            "decile revenue",
        );
        close(
            f(r, "cumulative_margin_share"),
            cum / total,
            "cumulative share",
        );
    }
    // The top 20%: deciles 1 and 2.
    let top20: f64 = ranked[..2 * base + extra.min(2)].iter().map(|x| x.2).sum();
    close(
        f(&got[1], "cumulative_margin_share"),
        top20 / total,
        "top 20% share",
    );
}

#[test]
fn period_comparison_matches_an_independent_sum() {
    let d = data();
    let q_of = |dk: i64| {
        let (y, q, _) = d.dates[&dk];
        y * 4 + q - 1
    };
    let cur = 2023 * 4 + 3; // 2023-Q4
    let mut want: BTreeMap<(String, String), [f64; 3]> = BTreeMap::new();
    let mut orders: BTreeMap<(String, String), HashSet<String>> = BTreeMap::new();
    for x in &d.sales {
        let q = q_of(x.date_key);
        let slot = match cur - q {
            0 => 0,
            1 => 1,
            4 => 2,
            _ => continue,
        };
        let (store, region, channel) = d.stores.get(&x.store_key).cloned().unwrap_or((
            "(unspecified)".into(),
            "(unknown)".into(),
            "(unknown)".into(),
        ));
        for key in [
            ("region".to_string(), region),
            ("channel".to_string(), channel),
            ("store".to_string(), store),
        ] {
            want.entry(key.clone()).or_default()[slot] += x.net;
            if slot == 0 && !x.is_return {
                orders.entry(key).or_default().insert(x.order_id.clone());
            }
        }
    }
    let got = named("performance_period_comparison", &["year=2023", "quarter=4"]);
    assert_eq!(got.len(), want.len());
    for r in &got {
        let key = (s(r, "level"), s(r, "member"));
        let w = want[&key];
        assert_eq!(s(r, "period"), "2023-Q4");
        close(f(r, "revenue"), w[0], "revenue");
        close(f(r, "prior_revenue"), w[1], "prior revenue");
        close(f(r, "last_year_revenue"), w[2], "last-year revenue");
        if w[1] != 0.0 {
            close(f(r, "revenue_change"), (w[0] - w[1]) / w[1], "change");
        }
        assert_eq!(
            i(r, "orders"),
            orders.get(&key).map_or(0, |o| o.len()) as i64
        );
    }
    // Default: the latest quarter with sales (the data ends in 2024-03).
    let latest = named("performance_period_comparison", &[]);
    assert!(latest.iter().all(|r| s(r, "period") == "2024-Q1"));
}

#[test]
fn prospecting_matches_an_independent_journey() {
    let d = data();
    let cur = d.current();
    let mut per: HashMap<String, Vec<(f64, String, i64)>> = HashMap::new();
    for ((c, o), (t, dk)) in d.orders() {
        per.entry(c).or_default().push((t, o, dk));
    }
    let mut want: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for (c, mut os) in per {
        os.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then(a.1.cmp(&b.1)));
        let (y, q, _) = d.dates[&os[0].2];
        let key = (format!("{y}-Q{q}"), cur[c.as_str()].channel.clone());
        let converted = os.get(1).is_some_and(|s| (s.0 - os[0].0) / 86400.0 <= 60.0);
        let e = want.entry(key).or_default();
        e.0 += 1;
        e.1 += converted as i64;
    }
    let got = named("prospecting_acquisition", &["within_days=60"]);
    assert_eq!(got.len(), want.len());
    for r in &got {
        let key = (s(r, "first_quarter"), s(r, "acquisition_channel"));
        let (n, conv) = want[&key];
        assert_eq!(i(r, "new_customers"), n, "{key:?}");
        assert_eq!(i(r, "converted"), conv, "{key:?}");
    }
}

#[test]
fn category_mix_matches_an_independent_sum() {
    let d = data();
    let mut want: BTreeMap<(String, String), (f64, f64, HashSet<String>)> = BTreeMap::new();
    for x in &d.sales {
        let (_, _, cat, sub) = &d.products[&x.product_key];
        for key in [
            (cat.clone(), sub.clone()),
            (cat.clone(), "(all)".to_string()),
            ("(all)".to_string(), "(all)".to_string()),
        ] {
            let e = want.entry(key).or_default();
            e.0 += x.net;
            e.1 += x.quantity;
            if let Some(c) = &x.customer {
                e.2.insert(c.clone());
            }
        }
    }
    let total = want[&("(all)".to_string(), "(all)".to_string())].0;
    let got = named("product_category_mix", &[]);
    assert_eq!(got.len(), want.len());
    for r in &got {
        let key = (s(r, "category"), s(r, "subcategory"));
        let (rev, units, buyers) = &want[&key];
        close(f(r, "revenue"), *rev, "revenue");
        close(f(r, "units"), *units, "units");
        close(f(r, "revenue_share"), rev / total, "share");
        assert_eq!(i(r, "buyers"), buyers.len() as i64, "{key:?}");
    }
    assert_eq!(s(got.last().unwrap(), "category"), "(all)");
}

#[test]
fn top_products_match_an_independent_ranking() {
    let d = data();
    let mut rev: BTreeMap<String, (f64, String)> = BTreeMap::new();
    for x in &d.sales {
        let (id, _, cat, _) = &d.products[&x.product_key];
        let e = rev.entry(id.clone()).or_insert((0.0, cat.clone()));
        e.0 += x.net;
    }
    let mut ranked: Vec<(String, f64, String)> =
        rev.into_iter().map(|(id, (r, c))| (id, r, c)).collect();
    ranked.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(&b.0)));
    let got = named("product_top_products", &["top=5"]);
    assert_eq!(got.len(), 5);
    for (k, r) in got.iter().enumerate() {
        assert_eq!(i(r, "rank"), k as i64 + 1);
        assert_eq!(s(r, "product_id"), ranked[k].0);
        close(f(r, "revenue"), ranked[k].1, "revenue");
    }
    let grooming: Vec<_> = ranked.iter().filter(|x| x.2 == "Grooming").collect();
    let got = named("product_top_products", &["category=Grooming", "top=100"]);
    assert_eq!(got.len(), grooming.len());
    assert_eq!(s(&got[0], "product_id"), grooming[0].0);
}

#[test]
fn cross_category_matches_an_independent_count() {
    let d = data();
    let mut cats: HashMap<String, BTreeSet<String>> = HashMap::new();
    for x in &d.sales {
        if let (Some(c), false) = (&x.customer, x.is_return) {
            cats.entry(c.clone())
                .or_default()
                .insert(d.products[&x.product_key].2.clone());
        }
    }
    let everyone = cats.len() as f64;
    let mut buyers: HashMap<String, f64> = HashMap::new();
    let mut both: BTreeMap<(String, String), i64> = BTreeMap::new();
    for cs in cats.values() {
        for a in cs {
            *buyers.entry(a.clone()).or_default() += 1.0;
            for b in cs {
                if a != b {
                    *both.entry((a.clone(), b.clone())).or_default() += 1;
                }
            }
        }
    }
    let got = named("product_cross_category", &[]);
    assert_eq!(got.len(), both.len());
    for r in &got {
        let key = (s(r, "category"), s(r, "also_bought"));
        let n = both[&key];
        assert_eq!(i(r, "customers_both"), n);
        let share = n as f64 / buyers[&key.0];
        close(f(r, "share"), share, "share");
        close(f(r, "lift"), share / (buyers[&key.1] / everyone), "lift");
    }
}

#[test]
fn campaign_roi_matches_an_independent_computation() {
    let d = data();
    let window = 21.0 * 86400.0;
    // Sales per customer: (time, net, margin).
    let mut by_customer: HashMap<&str, Vec<(f64, f64, f64)>> = HashMap::new();
    for x in &d.sales {
        if let Some(c) = &x.customer {
            by_customer
                .entry(c.as_str())
                .or_default()
                .push((x.t, x.net, x.margin.unwrap_or(0.0)));
        }
    }
    let mut first_contact: HashMap<(i64, &str), f64> = HashMap::new();
    for k in &d.contacts {
        if let (Some(ck), Some(c)) = (k.campaign_key, &k.customer) {
            let e = first_contact.entry((ck, c.as_str())).or_insert(k.t);
            *e = e.min(k.t);
        }
    }
    let got = named("promotion_campaign_roi", &["window_days=21"]);
    let campaigns: HashSet<i64> = first_contact.keys().map(|k| k.0).collect();
    assert_eq!(got.len(), campaigns.len());
    for ck in campaigns {
        let (id, start, cost) = &d.campaigns[&ck];
        let r = got.iter().find(|r| &s(r, "campaign_id") == id).unwrap();
        let mut contacted = 0;
        let mut responders = 0;
        let mut margin = 0.0;
        for ((c2, cust), t) in &first_contact {
            if *c2 != ck {
                continue;
            }
            contacted += 1;
            let hits: Vec<_> = by_customer
                .get(cust)
                .map(|v| v.iter().filter(|s| s.0 > *t && s.0 <= t + window).collect())
                .unwrap_or_default();
            responders += (!hits.is_empty()) as i64;
            margin += hits.iter().map(|s| s.2).sum::<f64>();
        }
        assert_eq!(i(r, "contacted"), contacted, "{id}");
        assert_eq!(i(r, "responders"), responders, "{id}");
        close(f(r, "margin"), margin, "margin");
        close(f(r, "roi"), (margin - cost) / cost, "roi");
        // The comparison group: active in the 90 days before the start, not contacted.
        let mut group = 0;
        let mut group_margin = 0.0;
        for (cust, v) in &by_customer {
            if first_contact.contains_key(&(ck, *cust)) {
                continue;
            }
            if !v
                .iter()
                .any(|s| s.0 < *start && s.0 >= start - 90.0 * 86400.0)
            {
                continue;
            }
            group += 1;
            group_margin += v
                .iter()
                .filter(|s| s.0 >= *start && s.0 < start + window)
                .map(|s| s.2)
                .sum::<f64>();
        }
        assert_eq!(i(r, "comparison_customers"), group, "{id}");
        let per = group_margin / group as f64;
        close(
            f(r, "comparison_margin_per_customer"),
            per,
            "comparison margin",
        );
        close(
            f(r, "incremental_margin"),
            margin - per * contacted as f64,
            "incremental margin",
        );
    }
}

#[test]
fn cube_matches_an_independent_sum() {
    let d = data();
    type Cell = (f64, HashSet<String>, HashSet<String>);
    let mut want: HashMap<(String, String, String), Cell> = HashMap::new();
    for x in &d.sales {
        // The sale's own dimension row: the region the customer lived in then.
        let region = d.customers[&x.customer_key].region.clone();
        let cat = d.products[&x.product_key].2.clone();
        let (y, q, _) = d.dates[&x.date_key];
        let quarter = format!("{y}-Q{q}");
        for mask in 0..8u8 {
            let pick = |bit: u8, v: &String| {
                if mask & bit != 0 {
                    "(all)".to_string()
                } else {
                    v.clone()
                }
            };
            let key = (pick(4, &region), pick(2, &cat), pick(1, &quarter));
            let e = want.entry(key).or_default();
            e.0 += x.net;
            if !x.is_return {
                e.1.insert(x.order_id.clone());
            }
            if let Some(c) = &x.customer {
                e.2.insert(c.clone());
            }
        }
    }
    let got = named("cube_region_category_quarter", &[]);
    assert_eq!(got.len(), want.len());
    for r in &got {
        let key = (s(r, "region"), s(r, "category"), s(r, "quarter"));
        let (rev, orders, customers) = &want[&key];
        close(f(r, "revenue"), *rev, "revenue");
        assert_eq!(i(r, "orders"), orders.len() as i64, "{key:?}");
        assert_eq!(i(r, "customers"), customers.len() as i64, "{key:?}");
    }
    assert_eq!(i(got.last().unwrap(), "grouping_id"), 7);
}

#[test]
fn service_quality_matches_an_independent_count() {
    let d = data();
    let mut sales: HashMap<&str, Vec<(f64, f64)>> = HashMap::new();
    for x in &d.sales {
        if let Some(c) = &x.customer {
            sales.entry(c.as_str()).or_default().push((x.t, x.net));
        }
    }
    #[derive(Default)]
    struct W {
        contacts: i64,
        complaints: i64,
        resolved: i64,
        sat: Vec<f64>,
        spend: Vec<f64>,
        resolved_again: i64,
        unresolved_again: i64,
    }
    let mut want: BTreeMap<String, W> = BTreeMap::new();
    for k in &d.contacts {
        let Some(c) = &k.customer else { continue };
        let w = want.entry(k.channel.clone()).or_default();
        w.contacts += 1;
        if let Some(s) = k.satisfaction {
            w.sat.push(s);
        }
        if k.contact_type != "complaint" {
            continue;
        }
        w.complaints += 1;
        let resolved = k.outcome == "resolved";
        w.resolved += resolved as i64;
        let v = sales.get(c.as_str()).cloned().unwrap_or_default();
        w.spend.push(
            v.iter()
                .filter(|s| s.0 <= k.t && s.0 > k.t - 365.0 * 86400.0)
                .map(|s| s.1)
                .sum(),
        );
        let again = v.iter().any(|s| s.0 > k.t && s.0 <= k.t + 90.0 * 86400.0);
        if again && resolved {
            w.resolved_again += 1;
        } else if again {
            w.unresolved_again += 1;
        }
    }
    let got = named("service_quality", &[]);
    assert_eq!(got.len(), want.len());
    for r in &got {
        let w = &want[&s(r, "channel")];
        assert_eq!(i(r, "contacts"), w.contacts);
        assert_eq!(i(r, "complaints"), w.complaints);
        close(
            f(r, "complaint_rate"),
            w.complaints as f64 / w.contacts as f64,
            "complaint rate",
        );
        if w.complaints > 0 {
            close(
                f(r, "resolution_rate"),
                w.resolved as f64 / w.complaints as f64,
                "resolution rate",
            );
            close(
                f(r, "spend_before_per_complaint"),
                w.spend.iter().sum::<f64>() / w.spend.len() as f64,
                "spend before",
            );
        }
        if w.resolved > 0 {
            close(
                f(r, "bought_again_resolved"),
                w.resolved_again as f64 / w.resolved as f64,
                "bought again (resolved)",
            );
        }
        if w.complaints > w.resolved {
            close(
                f(r, "bought_again_unresolved"),
                w.unresolved_again as f64 / (w.complaints - w.resolved) as f64,
                "bought again (unresolved)",
            );
        }
        close(
            f(r, "mean_satisfaction"),
            w.sat.iter().sum::<f64>() / w.sat.len() as f64,
            "satisfaction",
        );
    }
}

// ---- the command: formats, parameters, time travel, attachments, bad input ----

fn run(dir: &Path, args: &[&str]) -> (String, String) {
    let out = cmd(dir)
        .arg("query")
        .arg("--mart")
        .arg(mart())
        .args(args)
        .assert()
        .success();
    let o = out.get_output();
    (
        String::from_utf8(o.stdout.clone()).unwrap(),
        String::from_utf8(o.stderr.clone()).unwrap(),
    )
}

const SAMPLE: &str = "SELECT customer_key, customer_id, region, birth_year, signup_date, valid_from, is_current, CAST(customer_key AS DOUBLE) / 4 AS quarter_key FROM dim_customer WHERE customer_key BETWEEN 1 AND 5 ORDER BY customer_key";

#[test]
fn every_format_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let want = query(mart(), &[SAMPLE]);
    assert_eq!(want.len(), 5);
    for ext in ["csv", "json", "jsonl", "parquet", "xlsx"] {
        let file = dir.path().join(format!("out.{ext}"));
        let (_, err) = run(dir.path(), &[SAMPLE, "--output", file.to_str().unwrap()]);
        assert!(err.contains("5 rows"), "{ext}: {err}");
        assert!(!dir.path().join(format!("out.{ext}.partial")).exists());
        let ids: Vec<String> = match ext {
            "csv" => {
                let text = std::fs::read_to_string(&file).unwrap();
                let lines: Vec<&str> = text.lines().collect();
                assert_eq!(
                    lines[0],
                    "customer_key,customer_id,region,birth_year,signup_date,valid_from,is_current,quarter_key"
                );
                lines[1..]
                    .iter()
                    .map(|l| l.split(',').nth(1).unwrap().to_string())
                    .collect()
            }
            "json" => {
                let v: Vec<Row> =
                    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
                v.iter().map(|r| s(r, "customer_id")).collect()
            }
            "jsonl" => std::fs::read_to_string(&file)
                .unwrap()
                .lines()
                .map(|l| s(&serde_json::from_str(l).unwrap(), "customer_id"))
                .collect(),
            "parquet" => {
                let f = std::fs::File::open(&file).unwrap();
                let reader =
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
                        .unwrap()
                        .build()
                        .unwrap();
                let mut ids = Vec::new();
                for b in reader {
                    let b = b.unwrap();
                    let col = arrow::compute::cast(b.column(1), &arrow::datatypes::DataType::Utf8)
                        .unwrap();
                    let col = arrow::array::AsArray::as_string::<i32>(&col);
                    ids.extend(col.iter().map(|v| v.unwrap().to_string()));
                }
                ids
            }
            _ => {
                use calamine::{Data as Cell, DataType, Reader, open_workbook_auto};
                let mut wb = open_workbook_auto(&file).unwrap();
                let range = wb.worksheet_range("result").unwrap();
                let rows: Vec<_> = range.rows().collect();
                assert_eq!(rows.len(), 6);
                assert_eq!(rows[0][1], Cell::String("customer_id".into()));
                for (k, r) in rows[1..].iter().enumerate() {
                    // Numbers stay numbers; dates are Excel dates.
                    assert_eq!(
                        r[0].get_float().or(r[0].get_int().map(|x| x as f64)),
                        Some(i(&want[k], "customer_key") as f64)
                    );
                    assert_eq!(r[7].get_float(), Some(f(&want[k], "quarter_key")));
                    let signup = r[4].as_date().map(|d| d.to_string());
                    assert_eq!(signup.unwrap_or_default(), s(&want[k], "signup_date"));
                    assert_eq!(r[6], Cell::Bool(b(&want[k], "is_current")));
                }
                rows[1..].iter().map(|r| r[1].to_string()).collect()
            }
        };
        let want_ids: Vec<String> = want.iter().map(|r| s(r, "customer_id")).collect();
        assert_eq!(ids, want_ids, "{ext}");
    }
}

#[test]
fn table_output_shows_a_count_and_cuts_long_results() {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = run(
        dir.path(),
        &[
            "SELECT * FROM dim_date ORDER BY date_key",
            "--max-rows",
            "3",
        ],
    );
    let n: usize = query(mart(), &["SELECT count(*) AS n FROM dim_date"])[0]["n"]
        .as_u64()
        .unwrap() as usize;
    assert!(err.contains(&format!("{n} rows (3 shown")), "{err}");
    assert!(
        out.contains("date_key") && out.contains("month_name"),
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("│ 20")).count(),
        3,
        "{out}"
    );
    // Not a terminal and no --max-rows: every row.
    let (out, _) = run(dir.path(), &["SELECT * FROM dim_date"]);
    assert_eq!(out.lines().filter(|l| l.starts_with("│ 20")).count(), n);
    // Floats are rounded for reading.
    let (out, _) = run(dir.path(), &["SELECT 2.0 / 3 AS x, 1234.5678 AS y"]);
    assert!(out.contains("0.6667") && out.contains("1234.57"), "{out}");
}

#[test]
fn list_and_explain() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = run(dir.path(), &["--list"]);
    for name in crm_mart::query::named::builtin_names() {
        assert!(out.contains(name), "{name} not listed");
    }
    assert!(out.contains("--param window_days int = '30'"), "{out}");
    let (out, _) = run(
        dir.path(),
        &[
            "--name",
            "product_top_products",
            "--param",
            "top=3",
            "--explain",
        ],
    );
    assert!(
        out.contains("logical_plan") && out.contains("physical_plan"),
        "{out}"
    );
    assert!(
        out.contains("DeltaScan") || out.contains("DataSourceExec"),
        "{out}"
    );
}

#[test]
fn parameters_are_values_never_sql() {
    let dir = tempfile::tempdir().unwrap();
    // A value that would break out of its quotes if it were pasted into the SQL text.
    let got = named(
        "product_top_products",
        &["category=x' OR 1=1 --", "top=100"],
    );
    assert!(got.is_empty());
    let file = dir.path().join("by_region.sql");
    std::fs::write(
        &file,
        "-- param: region text | region\nSELECT count(*) AS n FROM dim_customer WHERE region = $region\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    for (value, expect_zero) in [("x' OR '1'='1", true), ("West", false)] {
        let r = query(
            mart(),
            &["--file", f, "--param", &format!("region={value}")],
        );
        assert_eq!(i(&r[0], "n") == 0, expect_zero, "{value}");
    }
}

#[test]
fn bad_queries_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let m = mart().to_str().unwrap();
    fn with<'a>(m: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["query", "--mart", m];
        v.extend_from_slice(rest);
        v
    }
    let q = |rest: &[&'static str]| with(m, rest);
    expect_bad_input(dir.path(), &q(&["SELEC 1"]), &["SELEC"]);
    expect_bad_input(
        dir.path(),
        &q(&["SELECT * FROM fact_sale"]),
        &["fact_sale", "the tables are:", "fact_sales", "dim_customer"],
    );
    expect_bad_input(
        dir.path(),
        &q(&["SELECT no_such_column FROM dim_date"]),
        &["no_such_column"],
    );
    expect_bad_input(
        dir.path(),
        &q(&["--name", "top_product"]),
        &[
            "no named query 'top_product'",
            "product_top_products",
            "service_quality",
        ],
    );
    expect_bad_input(
        dir.path(),
        &q(&["--name", "product_top_products", "--param", "top=many"]),
        &["'many' is not an int", "top int = '20'", "category text"],
    );
    expect_bad_input(
        dir.path(),
        &q(&["--name", "product_top_products", "--param", "tpo=3"]),
        &["unknown parameter 'tpo'", "top int"],
    );
    expect_bad_input(
        dir.path(),
        &q(&["SELECT 1", "--param", "a=1"]),
        &["--param needs"],
    );
    // Read-only: no DDL, DML or SET.
    expect_bad_input(
        dir.path(),
        &q(&["CREATE TABLE t AS SELECT 1"]),
        &["not supported"],
    );
    expect_bad_input(
        dir.path(),
        &q(&["SET datafusion.execution.batch_size = 1"]),
        &["not supported"],
    );
    expect_bad_input(
        dir.path(),
        &q(&["SELECT 1", "--format", "yaml"]),
        &["format 'yaml'"],
    );
    expect_bad_input(
        dir.path(),
        &q(&["SELECT 1", "--table", "x=/no/such/file.csv"]),
        &["--table x=/no/such/file.csv", "no such file"],
    );
    expect_bad_input(
        dir.path(),
        &q(&["SELECT 1", "--table", "fact_sales=/tmp"]),
        &["already registered"],
    );
    expect_bad_input(
        dir.path(),
        &q(&["SELECT 1", "--as-of-version", "99"]),
        &["--as-of-version 99", "batches 1 to 1"],
    );
    expect_bad_input(
        dir.path(),
        &["query", "--mart", "/no/such/mart", "SELECT 1"],
        &["/no/such/mart does not exist"],
    );
    expect_bad_input(
        dir.path(),
        &q(&["SELECT 1", "--engine", "spark://x"]),
        &["ballista://HOST:PORT"],
    );
}

#[test]
fn attached_tables_join_the_mart() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("targets.csv");
    std::fs::write(&csv, "region,target\nWest,100\nEast,200\n").unwrap();
    let parquet = dir.path().join("west.parquet");
    run(
        dir.path(),
        &[
            "SELECT customer_id FROM dim_customer WHERE region = 'West' AND is_current",
            "--output",
            parquet.to_str().unwrap(),
        ],
    );
    let delta = mart().join("dim_store");
    let r = query(
        mart(),
        &[
            "SELECT t.region, t.target, (SELECT count(*) FROM west) AS west, (SELECT count(*) FROM stores) AS stores FROM targets t ORDER BY t.region",
            "--table",
            &format!("targets={}", csv.display()),
            "--table",
            &format!("west={}", parquet.display()),
            "--table",
            &format!("stores={}", delta.display()),
        ],
    );
    assert_eq!(r.len(), 2);
    assert_eq!(s(&r[0], "region"), "East");
    assert_eq!(i(&r[0], "target"), 200);
    let west = query(
        mart(),
        &["SELECT count(*) AS n FROM dim_customer WHERE region = 'West' AND is_current"],
    );
    assert_eq!(i(&r[0], "west"), i(&west[0], "n"));
    let stores = query(mart(), &["SELECT count(*) AS n FROM dim_store"]);
    assert_eq!(i(&r[0], "stores"), i(&stores[0], "n"));
}

#[test]
fn as_of_version_shows_the_mart_after_an_earlier_batch() {
    let dir = tempfile::tempdir().unwrap();
    let full = generate(dir.path(), 60, 4, 0.0);
    // Batch 1: the first two months of sales and contacts; batch 2: the rest.
    let src = dir.path().join("part");
    std::fs::create_dir_all(src.join("sales")).unwrap();
    std::fs::create_dir_all(src.join("contacts")).unwrap();
    for e in std::fs::read_dir(&full).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), src.join(e.file_name())).unwrap();
        }
    }
    let months = ["2023-01", "2023-02", "2023-03", "2023-04"];
    let copy = |ms: &[&str]| {
        for m in ms {
            for sub in ["sales", "contacts"] {
                std::fs::copy(
                    full.join(sub).join(format!("{m}.csv")),
                    src.join(sub).join(format!("{m}.csv")),
                )
                .unwrap();
            }
        }
    };
    let m = dir.path().join("mart");
    copy(&months[..2]);
    etl(dir.path(), &src, &m);
    let count = |extra: &[&str]| {
        let mut args = vec!["SELECT count(*) AS n, max(date_key) AS last FROM fact_sales"];
        args.extend_from_slice(extra);
        let r = query(&m, &args);
        (i(&r[0], "n"), i(&r[0], "last"))
    };
    let first = count(&[]);
    copy(&months[2..]);
    etl(dir.path(), &src, &m);
    let second = count(&[]);
    assert!(
        second.0 > first.0 && second.1 > 20230300,
        "{first:?} {second:?}"
    );
    assert_eq!(count(&["--as-of-version", "1"]), first);
    assert_eq!(count(&["--as-of-version", "2"]), second);
    let runs = query(
        &m,
        &[
            "SELECT count(DISTINCT seq) AS n FROM _etl_runs",
            "--as-of-version",
            "1",
        ],
    );
    assert_eq!(i(&runs[0], "n"), 1);
}

#[test]
fn a_queries_directory_adds_named_queries() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("myq")).unwrap();
    std::fs::write(
        dir.path().join("crm-mart.toml"),
        format!(
            "[paths]\nmart = \"{}\"\nqueries = \"myq\"\n",
            mart().display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("myq/stores_in.sql"),
        "-- name: stores_in\n-- description: Stores in a region.\n-- param: region text = East | the region\nSELECT count(*) AS n FROM dim_store WHERE region = $region\n",
    )
    .unwrap();
    let out = cmd(dir.path()).args(["query", "--list"]).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        text.contains("stores_in") && text.contains("Stores in a region."),
        "{text}"
    );
    let out = cmd(dir.path())
        .args(["query", "--name", "stores_in", "--format", "csv"])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let want = query(
        mart(),
        &["SELECT count(*) AS n FROM dim_store WHERE region = 'East'"],
    );
    assert_eq!(text, format!("n\n{}\n", i(&want[0], "n")));
}

#[test]
fn customer_features_match_an_independent_computation() {
    let d = data();
    // Cut: the end of 2023-09-30 (epoch days); horizon 60 days.
    let cut = (chrono::NaiveDate::from_ymd_opt(2023, 10, 1).unwrap()
        - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
    .num_days() as f64;
    struct W {
        first: f64,
        last: f64,
        orders: HashSet<String>,
        monetary: f64,
        future: bool,
        complaints: f64,
        unresolved_365: f64,
    }
    let mut want: BTreeMap<String, W> = BTreeMap::new();
    for x in &d.sales {
        let Some(c) = &x.customer else { continue };
        let day = x.t / 86400.0;
        let w = want.entry(c.clone()).or_insert(W {
            first: f64::MAX,
            last: f64::MIN,
            orders: HashSet::new(),
            monetary: 0.0,
            future: false,
            complaints: 0.0,
            unresolved_365: 0.0,
        });
        if day < cut {
            w.monetary += x.net;
            if !x.is_return {
                w.orders.insert(x.order_id.clone());
                w.first = w.first.min(day);
                w.last = w.last.max(day);
            }
        } else if day < cut + 60.0 && !x.is_return {
            w.future = true;
        }
    }
    for k in &d.contacts {
        let Some(c) = &k.customer else { continue };
        let day = k.t / 86400.0;
        if let Some(w) = want.get_mut(c)
            && day < cut
            && k.contact_type == "complaint"
        {
            w.complaints += 1.0;
            if k.outcome == "unresolved" && day >= cut - 365.0 {
                w.unresolved_365 += 1.0;
            }
        }
    }
    want.retain(|_, w| !w.orders.is_empty());
    let got = named(
        "customer_features",
        &["as_of=2023-09-30", "horizon_days=60"],
    );
    assert_eq!(got.len(), want.len());
    for r in &got {
        let w = &want[&s(r, "customer_id")];
        assert_eq!(s(r, "as_of"), "2023-09-30");
        close(f(r, "frequency"), w.orders.len() as f64, "frequency");
        close(f(r, "monetary"), w.monetary, "monetary");
        assert!((f(r, "recency_days") - (cut - w.last)).abs() < 1e-6);
        assert!((f(r, "tenure_days") - (cut - w.first)).abs() < 1e-6);
        close(f(r, "complaints"), w.complaints, "complaints");
        close(
            f(r, "unresolved_complaints_365d"),
            w.unresolved_365,
            "unresolved",
        );
        assert_eq!(i(r, "churned") == 1, !w.future, "{}", s(r, "customer_id"));
        assert_eq!(i(r, "label_known"), 1);
    }
    // A cut whose horizon runs past the data: the label is not known yet.
    let late = named(
        "customer_features",
        &["as_of=2024-03-15", "horizon_days=90"],
    );
    assert!(late.iter().all(|r| i(r, "label_known") == 0));
}

#[test]
fn only_the_tables_a_statement_reads_are_opened() {
    // A copy of the mart whose dim_campaign log is unreadable: statements that do not read
    // dim_campaign do not open it, one that does gets the error.
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("mart");
    crate::reliability::copy_tree(mart(), &m);
    let log = m.join("dim_campaign/_delta_log");
    for e in std::fs::read_dir(&log).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "json") {
            std::fs::write(e.path(), "not json\n").unwrap();
        }
    }
    let _ = std::fs::remove_file(log.join("_last_checkpoint"));
    let rows = query(
        &m,
        &["WITH s AS (SELECT customer_key FROM fact_sales) \
           SELECT count(*) AS n FROM s JOIN dim_customer c USING (customer_key)"],
    );
    let direct = query(mart(), &["SELECT count(*) AS n FROM fact_sales"]);
    assert_eq!(i(&rows[0], "n"), i(&direct[0], "n"));
    assert!(i(&rows[0], "n") > 0);
    cmd(dir.path())
        .args(["query", "--mart"])
        .arg(&m)
        .arg("SELECT count(*) FROM dim_campaign")
        .assert()
        .failure();
    // A typo still lists every table of the mart, dim_campaign included.
    cmd(dir.path())
        .args(["query", "--mart"])
        .arg(&m)
        .arg("SELECT count(*) FROM fact_sale")
        .assert()
        .code(1)
        .stderr(predicates::str::contains("dim_campaign"))
        .stderr(predicates::str::contains("fact_sales"));
}

/// The mart's scans carry the Delta log's column statistics, equal to what the rows say, and
/// with them the planner builds its hash tables on the dimensions, never on the facts.
#[test]
fn scans_carry_the_logs_column_statistics_and_facts_are_never_the_build_side() {
    use datafusion::common::stats::Precision;
    use datafusion::physical_plan::{ExecutionPlan, displayable};
    let mart = mart();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let catalog = crm_mart::mart::catalog::open(
            &crm_mart::mart::engine::EngineSpec::Local,
            &crm_mart::mart::delta::Mart::new(mart),
            None,
            &[],
        )
        .await
        .unwrap();
        let provider = catalog.ctx.table_provider("fact_sales").await.unwrap();
        let stats = provider.statistics().expect("statistics");
        let schema = provider.schema();
        let mut checked = 0;
        for (i, f) in schema.fields().iter().enumerate() {
            let c = &stats.column_statistics[i];
            let (Precision::Exact(min), Precision::Exact(max)) = (&c.min_value, &c.max_value)
            else {
                continue;
            };
            let q = format!(
                "SELECT CAST(min({0}) AS VARCHAR), CAST(max({0}) AS VARCHAR), count(*) - count({0}), count(*) FROM fact_sales",
                f.name()
            );
            let b = catalog.ctx.sql(&q).await.unwrap().collect().await.unwrap();
            let got = crate::common::rows(&b)[0].clone();
            let nulls = c.null_count.get_value().copied().unwrap();
            let want = format!(
                "{min}|{max}|{nulls}|{}",
                stats.num_rows.get_value().unwrap()
            );
            assert_eq!(got, want, "column {}", f.name());
            checked += 1;
        }
        // The keys, the date key and the partition column at least.
        for key in ["customer_key", "product_key", "store_key", "date_key"] {
            let i = schema.index_of(key).unwrap();
            assert!(
                stats.column_statistics[i].min_value.is_exact() == Some(true),
                "{key}"
            );
        }
        assert!(checked >= 5, "{checked}");

        let sql = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/plain_sql/q04_store_month_customers.sql"),
        )
        .unwrap();
        let plan = catalog
            .ctx
            .sql(&sql)
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        fn joins(p: &std::sync::Arc<dyn ExecutionPlan>, out: &mut Vec<String>) {
            if p.name() == "HashJoinExec" {
                out.push(displayable(p.children()[0].as_ref()).indent(true).to_string());
            }
            for c in p.children() {
                joins(c, out);
            }
        }
        let mut builds = Vec::new();
        joins(&plan, &mut builds);
        assert_eq!(builds.len(), 3, "{}", displayable(plan.as_ref()).indent(true));
        for b in &builds {
            assert!(!b.contains("fact_sales"), "the facts are a build side:\n{b}");
        }
    });
}
