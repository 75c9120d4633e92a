//! Cron schedules as the CronJob controller reads them: robfig/cron v3's
//! `ParseStandard` (five fields — minute, hour, day of month, month, day of
//! week — with `*`, `?`, ranges, steps, lists, month and weekday names, and
//! the descriptors `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`,
//! `@midnight`, `@hourly`), its day rule (when either day field is a bare
//! `*`, both must match; otherwise either), and the next activation after a
//! time in the CronJob's `timeZone`.

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, civil};

/// A parsed schedule: one bit per allowed value of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Schedule {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// The day-of-month field was a bare `*` (or `?`).
    days_star: bool,
    /// The day-of-week field was a bare `*` (or `?`).
    weekdays_star: bool,
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Schedule {
    /// Parses a standard cron expression; the error says what is wrong.
    pub(crate) fn parse(spec: &str) -> Result<Schedule, String> {
        let spec = spec.trim();
        let expanded = match spec {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            s if s.starts_with('@') => return Err(format!("unrecognized descriptor: {s}")),
            s => s,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: {spec}",
                fields.len()
            ));
        }
        let (minutes, _) = field(fields[0], 0, 59, &[])?;
        let (hours, _) = field(fields[1], 0, 23, &[])?;
        let (days, days_star) = field(fields[2], 1, 31, &[])?;
        let (months, _) = field(fields[3], 1, 12, MONTHS)?;
        let (weekdays, weekdays_star) = field(fields[4], 0, 6, WEEKDAYS)?;
        Ok(Schedule {
            minutes,
            hours,
            days,
            months,
            weekdays,
            days_star,
            weekdays_star,
        })
    }

    fn day_matches(&self, date: civil::Date) -> bool {
        let bit = |set: u64, v: i8| set & (1u64 << v) != 0;
        if !bit(self.months, date.month()) {
            return false;
        }
        let dom = bit(self.days, date.day());
        let dow = bit(self.weekdays, date.weekday().to_sunday_zero_offset());
        if self.days_star || self.weekdays_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first activation strictly after `after`, in `tz`; `None` when there is
    /// none within five years (such as `0 0 30 2 *`).
    pub(crate) fn next(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = after.to_zoned(tz.clone()).datetime();
        // Start at the next whole minute.
        let start = local
            .with()
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .ok()?
            .checked_add(1.minute())
            .ok()?;
        let mut date = start.date();
        for _ in 0..(366 * 5) {
            if self.day_matches(date) {
                for hour in 0..24i8 {
                    if self.hours & (1u64 << hour) == 0 {
                        continue;
                    }
                    for minute in 0..60i8 {
                        if self.minutes & (1u64 << minute) == 0 {
                            continue;
                        }
                        let candidate = date.at(hour, minute, 0, 0);
                        if candidate < start {
                            continue;
                        }
                        let ts = tz.to_ambiguous_zoned(candidate).compatible().ok()?;
                        if ts.timestamp() > after {
                            return Some(ts.timestamp());
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

/// One field: its bits and whether it was a bare `*`.
fn field(text: &str, min: i8, max: i8, names: &[&str]) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let star = text == "*" || text == "?";
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: i8 = s
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("invalid step: {part}"))?;
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, names, min)?, value(b, names, min)?)
        } else {
            let v = value(range, names, min)?;
            // `a/s` means from a to the end.
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!(
                "end of range ({hi}) above maximum ({max}) or beginning of range ({lo}) below minimum ({min}): {part}"
            ));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1u64 << v;
            v = v.saturating_add(step);
            if v == i8::MAX {
                break;
            }
        }
    }
    Ok((bits, star))
}

/// A number or a name (`jan`, `mon`, …; names count from `min`).
fn value(text: &str, names: &[&str], min: i8) -> Result<i8, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return i8::try_from(i)
            .map(|i| i + min)
            .map_err(|_| text.to_owned());
    }
    text.parse()
        .map_err(|_| format!("failed to parse int from {text}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn every_minute_and_steps() {
        let s = Schedule::parse("*/1 * * * *").unwrap();
        let utc = TimeZone::UTC;
        assert_eq!(
            s.next(at("2024-03-01T10:00:30Z"), &utc),
            Some(at("2024-03-01T10:01:00Z"))
        );
        assert_eq!(
            s.next(at("2024-03-01T10:01:00Z"), &utc),
            Some(at("2024-03-01T10:02:00Z"))
        );
        let s = Schedule::parse("5/15 9-17 * * mon-fri").unwrap();
        // 2024-03-02 is a Saturday: next is Monday 09:05.
        assert_eq!(
            s.next(at("2024-03-01T17:50:00Z"), &utc),
            Some(at("2024-03-04T09:05:00Z"))
        );
    }

    #[test]
    fn descriptors_and_day_rule() {
        let utc = TimeZone::UTC;
        let hourly = Schedule::parse("@hourly").unwrap();
        assert_eq!(
            hourly.next(at("2024-03-01T10:00:00Z"), &utc),
            Some(at("2024-03-01T11:00:00Z"))
        );
        // Day of month OR day of week when neither is `*`: the 13th or a Friday.
        let s = Schedule::parse("0 0 13 * 5").unwrap();
        assert_eq!(
            s.next(at("2024-03-02T00:00:00Z"), &utc),
            Some(at("2024-03-08T00:00:00Z"))
        );
        assert!(
            Schedule::parse("0 0 30 2 *")
                .unwrap()
                .next(at("2024-01-01T00:00:00Z"), &utc)
                .is_none()
        );
    }

    #[test]
    fn time_zones() {
        let tz = TimeZone::get("Asia/Tokyo").unwrap();
        let s = Schedule::parse("@daily").unwrap();
        assert_eq!(
            s.next(at("2024-03-01T10:00:00Z"), &tz),
            Some(at("2024-03-01T15:00:00Z"))
        );
    }

    #[test]
    fn bad_schedules_are_refused() {
        for bad in [
            "",
            "* * * *",
            "60 * * * *",
            "* * * 13 *",
            "*/0 * * * *",
            "@every 5m",
            "x * * * *",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }
}
