//! Dates as days since 1970-01-01 (Arrow's `Date32`), the unit of every model's time axis.

use chrono::NaiveDate;

/// Days since 1970-01-01.
pub fn epoch_day(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

/// The date of an epoch day.
pub fn from_epoch_day(d: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Duration::days(d as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_days_round_trip() {
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(epoch_day(d), 19_782);
        assert_eq!(from_epoch_day(19_782), d);
        assert_eq!(epoch_day(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()), 0);
    }
}
