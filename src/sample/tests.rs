//! Tests of the generator.

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
