//! One month of sales and contacts: every customer's campaign contacts, orders (with the razor-and-diaper pattern and returns) and service contacts, from their own random streams.

use std::collections::HashMap;

use super::*;

pub(crate) type MonthResult = (u64, u64, Vec<(String, u64, &'static str)>);

/// What every customer's rows of one month share.
pub(crate) struct Month<'a> {
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
pub(crate) fn write_month(settings: &GenerateSettings, m: i32) -> Result<MonthResult> {
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
    if settings.period == Period::Day {
        split_by_day(&settings.out, &sales_rel, 2, first, &mut defects)?;
        split_by_day(&settings.out, &contacts_rel, 1, first, &mut defects)?;
    }
    Ok((sales.lines, contacts.lines, defects))
}

/// Splits the month file `rel` (under `out`) into one file per day (`sales/2024-01-05.csv`, the
/// header in each) by the date of each record's timestamp field `ts`; a record whose timestamp
/// is not a date goes with the record before it. The planted defects follow their records to
/// the new file and line.
fn split_by_day(
    out: &Path,
    rel: &str,
    ts: usize,
    first: NaiveDate,
    defects: &mut [(String, u64, &'static str)],
) -> Result<()> {
    let path = out.join(rel);
    let data = fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let mut lines = data.split(|b| *b == b'\n');
    let header = lines.next().unwrap_or_default().to_vec();
    let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
    let mut day = first.to_string();
    let mut files: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
    // Old line number → (new file, new line).
    let mut moved: HashMap<u64, (String, u64)> = HashMap::new();
    let mut counts: HashMap<String, u64> = HashMap::new();
    for (k, line) in lines.enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(f) = line.split(|b| *b == b',').nth(ts)
            && f.len() >= 10
            && let Ok(text) = std::str::from_utf8(&f[..10])
            && NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
        {
            day = text.to_string();
        }
        let file = files.entry(day.clone()).or_insert_with(|| {
            let mut h = header.clone();
            h.push(b'\n');
            h
        });
        file.extend_from_slice(line);
        file.push(b'\n');
        let n = counts.entry(day.clone()).or_insert(1);
        *n += 1;
        moved.insert(k as u64 + 2, (format!("{dir}/{day}.csv"), *n));
    }
    for (day, bytes) in &files {
        let p = out.join(dir).join(format!("{day}.csv"));
        fs::write(&p, bytes).map_err(|e| Error::io(&p, e))?;
    }
    fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
    for d in defects.iter_mut().filter(|d| d.0 == rel) {
        if let Some((file, line)) = moved.get(&d.1) {
            (d.0, d.1) = (file.clone(), *line);
        }
    }
    Ok(())
}

/// Customer `i`'s campaign contacts, orders and service contacts of the month.
pub(crate) fn write_customer(
    month: &Month,
    i: u64,
    sales: &mut Dirty,
    contacts: &mut Dirty,
) -> Result<()> {
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
pub(crate) fn campaign_contacts(
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
pub(crate) fn order_days(
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
pub(crate) fn basket(month: &Month, p: &Profile, weights: &[f64], r: &mut Rng) -> Vec<usize> {
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
pub(crate) fn write_order(
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
pub(crate) fn service_contacts(
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

/// Product indices by role, computed once per month writer.
pub(crate) struct Assortment {
    pub(crate) by_category: Vec<(&'static str, Vec<usize>)>,
    pub(crate) razors: Vec<usize>,
    pub(crate) diapers: Vec<usize>,
}

impl Assortment {
    pub(crate) fn new() -> Self {
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

    pub(crate) fn category_weights(&self, group: Group) -> Vec<f64> {
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
