//! The retry schedule (`WEBHOOK_RETRY_SCHEDULE`): the delay before each
//! retry of a failed attempt, and the retry queue that holds an attempt
//! for that long (one queue per distinct delay, named after it).

use std::time::Duration;

/// The longest delay a retry queue holds a message (its TTL).
const LONGEST: Duration = Duration::from_secs(7 * 86_400);
/// Retries at most; a schedule longer than this is surely a mistake.
const MOST_RETRIES: usize = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

impl RetrySchedule {
    /// `5s,5m,30m,2h`: whole seconds, minutes, hours or days (a bare
    /// number is seconds), at least one.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let delays = raw
            .split(',')
            .map(|item| {
                parse_delay(item.trim()).ok_or_else(|| {
                    format!("{item:?} is not a delay like 5s, 5m, 2h or 1d (at most 7d)")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if delays.len() > MOST_RETRIES {
            return Err(format!("at most {MOST_RETRIES} retries"));
        }
        Ok(Self(delays))
    }

    /// How many retries follow the first attempt.
    pub fn retries(&self) -> usize {
        self.0.len()
    }

    /// Where attempt `failed` (1 for the first) waits before the next one;
    /// `None` when it was the last.
    pub fn after(&self, failed: u32) -> Option<RetryQueue> {
        let index = usize::try_from(failed).ok()?.checked_sub(1)?;
        self.0.get(index).copied().map(RetryQueue)
    }

    /// Every retry queue the schedule uses, each once.
    pub fn queues(&self) -> Vec<RetryQueue> {
        let mut delays = self.0.clone();
        delays.sort();
        delays.dedup();
        delays.into_iter().map(RetryQueue).collect()
    }
}

fn parse_delay(raw: &str) -> Option<Duration> {
    let (digits, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => raw.split_at(i),
        None => (raw, "s"),
    };
    let n: u64 = digits.parse().ok()?;
    let seconds = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3_600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    let delay = Duration::from_secs(seconds);
    (seconds > 0 && delay <= LONGEST).then_some(delay)
}

/// A queue that holds attempts for one delay (its `x-message-ttl`), then
/// dead-letters them back to the attempts queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryQueue(Duration);

impl RetryQueue {
    pub fn delay(self) -> Duration {
        self.0
    }

    /// `webhook.retry.<delay>`, the delay in its largest whole unit
    /// (`webhook.retry.90s`, `webhook.retry.5m`, `webhook.retry.2h`).
    pub fn name(self) -> String {
        let s = self.0.as_secs();
        let delay = match s {
            _ if s % 86_400 == 0 => format!("{}d", s / 86_400),
            _ if s % 3_600 == 0 => format!("{}h", s / 3_600),
            _ if s % 60 == 0 => format!("{}m", s / 60),
            _ => format!("{s}s"),
        };
        format!("webhook.retry.{delay}")
    }

    /// The TTL in milliseconds.
    pub fn ttl_ms(self) -> i64 {
        i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_retries_seven_times_through_five_queues() {
        let schedule = RetrySchedule::parse("5s,5m,30m,2h,5h,10h,10h").expect("parses");
        assert_eq!(schedule.retries(), 7);
        let names: Vec<String> = schedule
            .queues()
            .into_iter()
            .map(RetryQueue::name)
            .collect();
        assert_eq!(
            names,
            [
                "webhook.retry.5s",
                "webhook.retry.5m",
                "webhook.retry.30m",
                "webhook.retry.2h",
                "webhook.retry.5h",
                "webhook.retry.10h"
            ]
        );
        let after = |n| schedule.after(n).map(RetryQueue::name);
        assert_eq!(after(1).as_deref(), Some("webhook.retry.5s"));
        assert_eq!(after(7).as_deref(), Some("webhook.retry.10h"));
        assert_eq!(after(8), None);
        assert_eq!(after(0), None);
    }

    #[test]
    fn delays_are_named_in_their_largest_whole_unit() {
        let cases = [
            ("1", "webhook.retry.1s", 1_000),
            ("90s", "webhook.retry.90s", 90_000),
            ("120s", "webhook.retry.2m", 120_000),
            ("60m", "webhook.retry.1h", 3_600_000),
            ("48h", "webhook.retry.2d", 172_800_000),
        ];
        for (raw, name, ttl) in cases {
            let schedule = RetrySchedule::parse(raw).expect(raw);
            let queue = schedule.after(1).expect(raw);
            assert_eq!(
                (queue.name().as_str(), queue.ttl_ms()),
                (name, ttl),
                "{raw}"
            );
        }
    }

    #[test]
    fn malformed_schedules_are_refused() {
        for raw in ["", "5s,", "0s", "5w", "-5s", "1.5s", "8d", "s"] {
            assert!(RetrySchedule::parse(raw).is_err(), "{raw:?}");
        }
        let too_long = vec!["1s"; MOST_RETRIES + 1].join(",");
        assert!(RetrySchedule::parse(&too_long).is_err());
    }
}
