//! Date of birth: strict `YYYY-MM-DD`, in the past, age 13..=150.
//!
//! Ages are computed from anniversaries. A 29 February birth has its
//! anniversary on 1 March in non-leap years (the convention used by e.g. UK
//! and many US state laws), so someone born 2008-02-29 turns 13 on
//! 2021-03-01, not on 2021-02-28.

use chrono::{Datelike, NaiveDate};

/// Minimum age for self-registration (COPPA).
pub const MIN_AGE_YEARS: i32 = 13;
/// Oldest plausible date of birth, to catch typos like `1026-05-15`.
pub const MAX_AGE_YEARS: i32 = 150;

pub const DOB_INVALID: &str = "Date of birth must be a valid date in YYYY-MM-DD format";
pub const DOB_NOT_PAST: &str = "Date of birth must be in the past";
pub const DOB_TOO_YOUNG: &str = "Must be at least 13 years old";
pub const DOB_TOO_OLD: &str = "Date of birth cannot be more than 150 years ago";

/// Validates `raw` against `today` (passed in, so results are deterministic
/// and testable). Every failing rule is reported: a future date is both not
/// in the past and younger than 13.
pub fn parse_date_of_birth(raw: &str, today: NaiveDate) -> Result<NaiveDate, Vec<String>> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(vec!["Date of birth is required".to_owned()]);
    }
    let Some(dob) = parse_iso_date(value) else {
        return Err(vec![DOB_INVALID.to_owned()]);
    };
    let mut messages = Vec::new();
    if dob >= today {
        messages.push(DOB_NOT_PAST.to_owned());
    }
    // `None` only when the anniversary falls outside chrono's range, i.e.
    // impossibly far in the future: treat as too young.
    if anniversary(dob, MIN_AGE_YEARS).is_none_or(|d| d > today) {
        messages.push(DOB_TOO_YOUNG.to_owned());
    }
    // Exactly 150 years old today is still allowed; a day more is not.
    if anniversary(dob, MAX_AGE_YEARS).is_some_and(|d| d < today) {
        messages.push(DOB_TOO_OLD.to_owned());
    }
    if messages.is_empty() {
        Ok(dob)
    } else {
        Err(messages)
    }
}

/// Parses exactly `YYYY-MM-DD` (ASCII digits, zero-padded). chrono's own
/// parser also accepts unpadded fields like `1990-5-1`, which the contract
/// forbids, so the shape is checked by hand first.
fn parse_iso_date(value: &str) -> Option<NaiveDate> {
    let bytes = value.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return None;
    }
    let year = value.get(0..4)?.parse().ok()?;
    let month = value.get(5..7)?.parse().ok()?;
    let day = value.get(8..10)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// The date `years` after `dob`; 29 February maps to 1 March in non-leap years.
fn anniversary(dob: NaiveDate, years: i32) -> Option<NaiveDate> {
    let year = dob.year().checked_add(years)?;
    NaiveDate::from_ymd_opt(year, dob.month(), dob.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, 3, 1))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    type Outcome = Result<NaiveDate, Vec<String>>;

    fn errs(messages: &[&str]) -> Outcome {
        Err(messages.iter().map(|m| (*m).to_owned()).collect())
    }

    #[test]
    fn table() {
        let cases: Vec<(&str, &str, Outcome)> = vec![
            // (input, today, expected)
            ("1990-05-15", "2026-11-21", Ok(d("1990-05-15"))),
            (" 1990-05-15 ", "2026-11-21", Ok(d("1990-05-15"))),
            // 13th birthday today / tomorrow.
            ("2013-11-21", "2026-11-21", Ok(d("2013-11-21"))),
            ("2013-11-22", "2026-11-21", errs(&[DOB_TOO_YOUNG])),
            // 29 February births: 13th birthday in a non-leap year is 1 March.
            ("2008-02-29", "2021-02-28", errs(&[DOB_TOO_YOUNG])),
            ("2008-02-29", "2021-03-01", Ok(d("2008-02-29"))),
            // ... and 29 February itself in a leap year.
            ("2011-02-29", "2026-11-21", errs(&[DOB_INVALID])),
            ("1996-02-29", "2009-02-28", errs(&[DOB_TOO_YOUNG])),
            ("1996-02-29", "2009-03-01", Ok(d("1996-02-29"))),
            ("2000-02-29", "2013-02-28", errs(&[DOB_TOO_YOUNG])),
            ("1999-02-28", "2012-02-27", errs(&[DOB_TOO_YOUNG])),
            ("1999-02-28", "2012-02-28", Ok(d("1999-02-28"))),
            // 150-year limit: exactly 150 today is fine, one day more is not.
            ("1876-11-21", "2026-11-21", Ok(d("1876-11-21"))),
            ("1876-11-20", "2026-11-21", errs(&[DOB_TOO_OLD])),
            ("0001-01-01", "2026-11-21", errs(&[DOB_TOO_OLD])),
            // Today and the future.
            (
                "2026-11-21",
                "2026-11-21",
                errs(&[DOB_NOT_PAST, DOB_TOO_YOUNG]),
            ),
            (
                "2030-01-01",
                "2026-11-21",
                errs(&[DOB_NOT_PAST, DOB_TOO_YOUNG]),
            ),
            (
                "9999-12-31",
                "2026-11-21",
                errs(&[DOB_NOT_PAST, DOB_TOO_YOUNG]),
            ),
            // Shape and calendar.
            ("1990-5-15", "2026-11-21", errs(&[DOB_INVALID])),
            ("1990/05/15", "2026-11-21", errs(&[DOB_INVALID])),
            ("15-05-1990", "2026-11-21", errs(&[DOB_INVALID])),
            ("1990-05-15T00:00:00", "2026-11-21", errs(&[DOB_INVALID])),
            ("+990-05-15", "2026-11-21", errs(&[DOB_INVALID])),
            ("1990-13-01", "2026-11-21", errs(&[DOB_INVALID])),
            ("1990-04-31", "2026-11-21", errs(&[DOB_INVALID])),
            ("1990-00-10", "2026-11-21", errs(&[DOB_INVALID])),
            ("1990-01-00", "2026-11-21", errs(&[DOB_INVALID])),
            ("１９９０-05-15", "2026-11-21", errs(&[DOB_INVALID])),
            ("", "2026-11-21", errs(&["Date of birth is required"])),
        ];
        for (input, today, expected) in cases {
            assert_eq!(
                parse_date_of_birth(input, d(today)),
                expected,
                "input {input:?} today {today}"
            );
        }
    }
}
