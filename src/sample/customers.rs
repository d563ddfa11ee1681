//! The customer file: profiles as rows, with their moves (a new city and region, the next
//! version of the customer) and consent.

use super::*;

pub(crate) fn write_customers(settings: &GenerateSettings) -> Result<u64> {
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
