//! The next-best action: what the business rule says for a customer (retain, cross-sell, win
//! back or nothing), and the contact policy over it: consent, service recovery after a complaint,
//! and a cap on outbound contacts.

use std::collections::HashMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Date32Type};

use datafusion::scalar::ScalarValue;

use crate::error::Result;
use crate::mart::catalog::Catalog;
use crate::util::dates::from_epoch_day;

/// A customer's next-best action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Active, at risk of churning and valuable: an offer to keep them.
    RetentionOffer,
    /// Active: the products they are likely to want.
    CrossSell,
    /// Lapsed and valuable: an offer to bring them back.
    WinBack,
    /// Lapsed and not among the most valuable: nothing.
    NoAction,
    /// An unresolved complaint: fix it first, no product.
    ServiceRecovery,
    /// Contacted too often lately: leave them be.
    Rest,
    /// Opted out of marketing (or no channel they agreed to): no marketing contact.
    OptedOut,
}

impl Action {
    /// Every action, in the order the report lists them.
    pub const ALL: [Action; 7] = [
        Action::RetentionOffer,
        Action::CrossSell,
        Action::WinBack,
        Action::NoAction,
        Action::ServiceRecovery,
        Action::Rest,
        Action::OptedOut,
    ];

    /// The name written to the mart and the CRM.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::RetentionOffer => "retention_offer",
            Action::CrossSell => "cross_sell",
            Action::WinBack => "win_back",
            Action::NoAction => "no_action",
            Action::ServiceRecovery => "service_recovery",
            Action::Rest => "rest",
            Action::OptedOut => "opted_out",
        }
    }

    /// Whether the action pushes products (the others get one row without a product).
    pub fn pushes_products(self) -> bool {
        matches!(
            self,
            Action::RetentionOffer | Action::CrossSell | Action::WinBack
        )
    }

    /// Whether the contact policy suppressed what the business rule would have done.
    pub fn is_suppression(self) -> bool {
        matches!(
            self,
            Action::ServiceRecovery | Action::Rest | Action::OptedOut
        )
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use crate::config::Policy;

/// What the mart says of a customer's consent and recent contacts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactState {
    /// `do_not_contact` of the current customer row.
    pub do_not_contact: Option<bool>,
    /// `email_opt_in`.
    pub email_opt_in: Option<bool>,
    /// `phone_opt_in`.
    pub phone_opt_in: Option<bool>,
    /// The newest unresolved complaint within the service-recovery window: (contact id, day,
    /// channel).
    pub open_complaint: Option<(String, i32, Option<String>)>,
    /// Outbound contacts within the fatigue window.
    pub outbound_contacts: u32,
}

/// The business rule: active (a purchase in the last 90 days) and at risk (churn probability ≥
/// 0.5) and high-value → retention offer; active otherwise → cross-sell; lapsed and high-value →
/// win-back; lapsed otherwise → no action.
pub fn business_action(recency_days: i32, churn: Option<f64>, high_value: bool) -> Action {
    if recency_days < 90 {
        if high_value && churn.is_some_and(|p| p >= 0.5) {
            Action::RetentionOffer
        } else {
            Action::CrossSell
        }
    } else if high_value {
        Action::WinBack
    } else {
        Action::NoAction
    }
}

/// The contact policy over the business rule: the action and, when the policy changed it, why.
/// In order: `do_not_contact` → opted out; an open complaint → service recovery (a service
/// contact, allowed without marketing consent); no channel consent → opted out; too many
/// outbound contacts → rest.
pub fn apply(policy: &Policy, state: &ContactState, business: Action) -> (Action, Option<String>) {
    if state.do_not_contact == Some(true) {
        return (
            Action::OptedOut,
            Some(format!(
                "do_not_contact is set: no contact (would have been {business})"
            )),
        );
    }
    if let Some((id, day, channel)) = &state.open_complaint {
        return (
            Action::ServiceRecovery,
            Some(format!(
                "complaint {id} of {}{} is unresolved: resolve it before any offer",
                from_epoch_day(*day),
                channel
                    .as_deref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            )),
        );
    }
    if !business.pushes_products() {
        return (business, None);
    }
    let consents = |v: Option<bool>| {
        if policy.require_opt_in {
            v == Some(true)
        } else {
            v != Some(false)
        }
    };
    if !consents(state.email_opt_in) && !consents(state.phone_opt_in) {
        let why = if policy.require_opt_in {
            "no e-mail or phone opt-in on record"
        } else {
            "opted out of e-mail and phone"
        };
        return (
            Action::OptedOut,
            Some(format!(
                "{why}: no marketing contact (would have been {business})"
            )),
        );
    }
    if state.outbound_contacts > policy.max_outbound_contacts {
        return (
            Action::Rest,
            Some(format!(
                "{} outbound contacts in the last {} days (cap {}): rest (would have been {business})",
                state.outbound_contacts, policy.contact_window_days, policy.max_outbound_contacts
            )),
        );
    }
    (business, None)
}

/// Consent and contact state of every customer (by id) as of `cut`, from `dim_customer` and
/// `fact_contacts` (either may be missing: then nobody is suppressed for it).
pub async fn contact_states(
    catalog: &Catalog,
    policy: &Policy,
    cut: i32,
) -> Result<HashMap<String, ContactState>> {
    let mut out: HashMap<String, ContactState> = HashMap::new();
    let has = |t: &str| catalog.tables.iter().any(|x| x.name == t);
    if has("dim_customer") {
        let prepared = crate::query::builtin("contact_consent", HashMap::new())?;
        let batches = crate::query::collect(catalog, &prepared).await?;
        for b in &batches {
            let id = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
            let id = id.as_string::<i32>();
            let flag = |i: usize, r: usize| {
                let c = b.column(i).as_boolean();
                (!c.is_null(r)).then(|| c.value(r))
            };
            for r in 0..b.num_rows() {
                let s = out.entry(id.value(r).to_string()).or_default();
                s.do_not_contact = flag(1, r);
                s.email_opt_in = flag(2, r);
                s.phone_opt_in = flag(3, r);
            }
        }
    }
    if has("fact_contacts") && has("dim_customer") && has("dim_date") {
        let window = policy.contact_window_days.max(policy.service_recovery_days) as i32;
        let day = |d: i32| ScalarValue::Date32(Some(d));
        let values = HashMap::from([
            ("as_of".to_string(), day(cut)),
            ("after".to_string(), day(cut - window)),
        ]);
        let prepared = crate::query::builtin("contact_history", values)?;
        let batches = crate::query::collect(catalog, &prepared).await?;
        for b in &batches {
            let s = |i: usize| arrow::compute::cast(b.column(i), &DataType::Utf8);
            let (id, cid, dir, kind, outcome, channel) = (s(0)?, s(1)?, s(3)?, s(4)?, s(5)?, s(6)?);
            let (id, cid, dir, kind, outcome, channel) = (
                id.as_string::<i32>(),
                cid.as_string::<i32>(),
                dir.as_string::<i32>(),
                kind.as_string::<i32>(),
                outcome.as_string::<i32>(),
                channel.as_string::<i32>(),
            );
            let day = b.column(2).as_primitive::<Date32Type>();
            let text = |a: &arrow::array::StringArray, r: usize| {
                (!a.is_null(r)).then(|| a.value(r).to_string())
            };
            for r in 0..b.num_rows() {
                let age = cut - day.value(r);
                let st = out.entry(id.value(r).to_string()).or_default();
                if text(dir, r).as_deref() == Some("outbound")
                    && age < policy.contact_window_days as i32
                {
                    st.outbound_contacts += 1;
                }
                if text(kind, r).as_deref() == Some("complaint")
                    && text(outcome, r).as_deref() == Some("unresolved")
                    && age < policy.service_recovery_days as i32
                {
                    // Ordered by time: the newest one stays.
                    st.open_complaint =
                        Some((cid.value(r).to_string(), day.value(r), text(channel, r)));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_rule() {
        assert_eq!(business_action(10, Some(0.7), true), Action::RetentionOffer);
        assert_eq!(business_action(10, Some(0.7), false), Action::CrossSell);
        assert_eq!(business_action(10, None, true), Action::CrossSell);
        assert_eq!(business_action(200, Some(0.9), true), Action::WinBack);
        assert_eq!(business_action(200, None, false), Action::NoAction);
    }

    #[test]
    fn the_policy_suppresses_in_order() {
        let p = Policy::default();
        let free = ContactState::default();
        assert_eq!(
            apply(&p, &free, Action::CrossSell),
            (Action::CrossSell, None)
        );
        let dnc = ContactState {
            do_not_contact: Some(true),
            open_complaint: Some(("K1".into(), 0, None)),
            ..Default::default()
        };
        assert_eq!(apply(&p, &dnc, Action::CrossSell).0, Action::OptedOut);
        let complaint = ContactState {
            open_complaint: Some(("K7".into(), 15000, Some("phone".into()))),
            email_opt_in: Some(false),
            phone_opt_in: Some(false),
            outbound_contacts: 9,
            ..Default::default()
        };
        let (a, why) = apply(&p, &complaint, Action::NoAction);
        assert_eq!(a, Action::ServiceRecovery);
        assert_eq!(
            why.unwrap(),
            "complaint K7 of 2011-01-26 (phone) is unresolved: resolve it before any offer"
        );
        let no_channel = ContactState {
            email_opt_in: Some(false),
            phone_opt_in: Some(false),
            ..Default::default()
        };
        assert_eq!(apply(&p, &no_channel, Action::WinBack).0, Action::OptedOut);
        // Nothing to suppress when nothing would be sent.
        assert_eq!(apply(&p, &no_channel, Action::NoAction).0, Action::NoAction);
        let one_channel = ContactState {
            email_opt_in: Some(false),
            ..Default::default()
        };
        assert_eq!(
            apply(&p, &one_channel, Action::CrossSell).0,
            Action::CrossSell
        );
        let strict = Policy {
            require_opt_in: true,
            ..p
        };
        assert_eq!(
            apply(&strict, &one_channel, Action::CrossSell).0,
            Action::OptedOut
        );
        let busy = ContactState {
            outbound_contacts: 4,
            ..Default::default()
        };
        let (a, why) = apply(&p, &busy, Action::RetentionOffer);
        assert_eq!(a, Action::Rest);
        assert!(
            why.unwrap()
                .starts_with("4 outbound contacts in the last 30 days (cap 3)")
        );
        let at_cap = ContactState {
            outbound_contacts: 3,
            ..Default::default()
        };
        assert_eq!(apply(&p, &at_cap, Action::CrossSell).0, Action::CrossSell);
        assert!(Action::ALL.iter().filter(|a| a.is_suppression()).count() == 3);
    }
}
