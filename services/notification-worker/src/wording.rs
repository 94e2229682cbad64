//! Times as a person reads them in an email: "24 hours", "2 days",
//! "1 December 2026 at 14:03 UTC".

use std::time::Duration;

use chrono::{DateTime, Utc};

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// A lifetime in at most two units, the largest first: "1 hour",
/// "24 hours", "2 days and 6 hours", "1 minute and 30 seconds". Days start
/// at 48 hours, because "24 hours" reads better than "1 day" for a link.
/// What the second unit cannot show is dropped, so the email never
/// promises more time than the link has.
pub fn duration(ttl: Duration) -> String {
    let secs = ttl.as_secs();
    let (big, small) = if secs >= 2 * DAY {
        ((secs / DAY, "day"), (secs % DAY / HOUR, "hour"))
    } else if secs >= HOUR {
        ((secs / HOUR, "hour"), (secs % HOUR / MINUTE, "minute"))
    } else if secs >= MINUTE {
        ((secs / MINUTE, "minute"), (secs % MINUTE, "second"))
    } else {
        ((secs, "second"), (0, "second"))
    };
    match small {
        (0, _) => count(big),
        small => format!("{} and {}", count(big), count(small)),
    }
}

fn count((n, unit): (u64, &str)) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// A moment to the minute, in UTC (the patient's time zone is unknown).
pub fn moment(at: DateTime<Utc>) -> String {
    at.format("%-d %B %Y at %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_read_as_a_person_would_say_them() {
        for (secs, want) in [
            (3600, "1 hour"),
            (24 * 3600, "24 hours"),
            (30 * 60, "30 minutes"),
            (2 * 86_400, "2 days"),
            (7 * 86_400, "7 days"),
            (47 * 3600, "47 hours"),
            (90 * 60, "1 hour and 30 minutes"),
            (61 * 60, "1 hour and 1 minute"),
            (2 * 86_400 + 6 * 3600, "2 days and 6 hours"),
            (60, "1 minute"),
            (90, "1 minute and 30 seconds"),
            (1, "1 second"),
            (45, "45 seconds"),
            (0, "0 seconds"),
        ] {
            assert_eq!(duration(Duration::from_secs(secs)), want, "{secs} s");
        }
    }

    #[test]
    fn what_two_units_cannot_show_is_dropped_never_rounded_up() {
        assert_eq!(duration(Duration::from_secs(3600 + 59)), "1 hour");
        assert_eq!(
            duration(Duration::from_secs(2 * 86_400 + 3600 + 59 * 60)),
            "2 days and 1 hour"
        );
        assert_eq!(duration(Duration::from_millis(3_600_999)), "1 hour");
    }

    #[test]
    fn moments_are_written_out_in_utc() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T14:03:59+01:00")
            .expect("a date")
            .to_utc();
        assert_eq!(moment(at), "1 December 2026 at 13:03 UTC");
    }
}
