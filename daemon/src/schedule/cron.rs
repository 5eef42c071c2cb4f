//! Cron expressions for probe schedules (e.g. a nightly load run): parsing the classic 5-field
//! syntax and the `@daily`-style macros, and finding the next firing time in UTC. Owns no timers
//! and no clock: the scheduler asks `next_after(now)` and sleeps until then.
//!
//! Semantics follow crontab(5) (Vixie/cronie): fields are `minute hour day-of-month month
//! day-of-week`; day-of-week 0 and 7 are both Sunday; names (`jan`, `mon`) are case-insensitive;
//! when both day fields are restricted (neither *starts with* `*`) a day matches if EITHER
//! matches, otherwise both must match.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::{Date, Month, OffsetDateTime};

/// How far ahead `next_after` searches before giving up. Eight years, not five, so that a
/// Feb 29 schedule still finds its day across a skipped century leap year (2096 → 2104).
const HORIZON_YEARS: i32 = 8;

const MONTH_NAMES: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const FIELD_HINT: &str = "minute hour day-of-month month day-of-week";

/// A parsed cron schedule, evaluated in UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    /// The expression as written (trimmed).
    text: String,
    /// Bit n set: fires at minute n (0-59).
    minutes: u64,
    /// Bit n set: fires at hour n (0-23).
    hours: u64,
    /// Bit n set: day of month n (1-31).
    doms: u64,
    /// Bit n set: month n (1-12).
    months: u64,
    /// Bit n set: weekday n, 0 = Sunday (a 7 in the text is folded into 0).
    dows: u64,
    /// The day-of-month field starts with `*` (unrestricted for the OR rule).
    dom_star: bool,
    /// The day-of-week field starts with `*` (unrestricted for the OR rule).
    dow_star: bool,
}

/// Why a cron expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// Not 5 fields and not a macro.
    #[error("expected 5 fields ({FIELD_HINT}) or a macro like @daily, got {got}")]
    FieldCount {
        /// How many whitespace-separated fields there were.
        got: usize,
    },
    /// An `@name` that is not one of the supported macros.
    #[error(
        "unknown macro {name}: expected @hourly, @daily, @midnight, @weekly, @monthly, @yearly or \
         @annually"
    )]
    UnknownMacro {
        /// The macro as written.
        name: String,
    },
    /// A number outside the field's range.
    #[error("{field}: {value} is out of range {min}-{max}")]
    OutOfRange {
        /// Field name, e.g. `hour`.
        field: &'static str,
        /// The value as written.
        value: String,
        /// Smallest allowed value.
        min: u32,
        /// Largest allowed value.
        max: u32,
    },
    /// A token that is neither a number nor a name the field accepts.
    #[error("{field}: `{token}` is not {expected}")]
    Invalid {
        /// Field name.
        field: &'static str,
        /// The offending token.
        token: String,
        /// What the field accepts.
        expected: &'static str,
    },
    /// A range written high-low.
    #[error("{field}: range `{range}` is reversed, expected low-high")]
    ReversedRange {
        /// Field name.
        field: &'static str,
        /// The range as written.
        range: String,
    },
    /// A step that is not a positive whole number.
    #[error("{field}: the step in `{item}` must be a positive whole number")]
    BadStep {
        /// Field name.
        field: &'static str,
        /// The list item holding the step.
        item: String,
    },
    /// An empty item in a list, e.g. `1,,2`.
    #[error("{field}: empty item in list `{list}`")]
    EmptyItem {
        /// Field name.
        field: &'static str,
        /// The whole field as written.
        list: String,
    },
}

/// One field's grammar.
struct Spec {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names accepted for values, mapped to `first_named + index`.
    names: &'static [&'static str],
    first_named: u32,
    expected: &'static str,
}

const MINUTE: Spec = Spec::numeric("minute", 0, 59);
const HOUR: Spec = Spec::numeric("hour", 0, 23);
const DOM: Spec = Spec::numeric("day-of-month", 1, 31);
const MONTH: Spec = Spec {
    name: "month",
    min: 1,
    max: 12,
    names: &MONTH_NAMES,
    first_named: 1,
    expected: "a number or a month name (jan..dec)",
};
const DOW: Spec = Spec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &WEEKDAY_NAMES,
    first_named: 0,
    expected: "a number or a weekday name (sun..sat)",
};

impl Spec {
    const fn numeric(name: &'static str, min: u32, max: u32) -> Self {
        Spec {
            name,
            min,
            max,
            names: &[],
            first_named: 0,
            expected: "a number",
        }
    }

    /// Parses one field (a comma-separated list) into a bit set.
    fn parse(&self, field: &str) -> Result<u64, CronError> {
        let mut bits = 0u64;
        for item in field.split(',') {
            if item.is_empty() {
                return Err(CronError::EmptyItem {
                    field: self.name,
                    list: field.to_owned(),
                });
            }
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => (range, self.step(step, item)?),
                None => (item, 1),
            };
            let (lo, hi) = if range == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                let (lo, hi) = (self.value(a, item)?, self.value(b, item)?);
                if lo > hi {
                    return Err(CronError::ReversedRange {
                        field: self.name,
                        range: range.to_owned(),
                    });
                }
                (lo, hi)
            } else {
                let v = self.value(range, item)?;
                // `a/n` means "from a to the end of the range, every n".
                if item.contains('/') {
                    (v, self.max)
                } else {
                    (v, v)
                }
            };
            for v in (lo..=hi).step_by(step) {
                bits |= 1 << v;
            }
        }
        Ok(bits)
    }

    fn step(&self, step: &str, item: &str) -> Result<usize, CronError> {
        match step.parse::<usize>() {
            Ok(n) if n > 0 && step.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
            _ => Err(CronError::BadStep {
                field: self.name,
                item: item.to_owned(),
            }),
        }
    }

    /// One number or name, checked against the range.
    fn value(&self, token: &str, item: &str) -> Result<u32, CronError> {
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            let out_of_range = || CronError::OutOfRange {
                field: self.name,
                value: token.to_owned(),
                min: self.min,
                max: self.max,
            };
            let v: u32 = token.parse().map_err(|_| out_of_range())?;
            return if (self.min..=self.max).contains(&v) {
                Ok(v)
            } else {
                Err(out_of_range())
            };
        }
        let named = self
            .names
            .iter()
            .zip(self.first_named..)
            .find(|(name, _)| name.eq_ignore_ascii_case(token));
        match named {
            Some((_, v)) => Ok(v),
            None => Err(CronError::Invalid {
                field: self.name,
                token: if token.is_empty() { item } else { token }.to_owned(),
                expected: self.expected,
            }),
        }
    }
}

/// The 5-field text a macro stands for.
fn expand_macro(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "@hourly" => "0 * * * *",
        "@daily" | "@midnight" => "0 0 * * *",
        "@weekly" => "0 0 * * 0",
        "@monthly" => "0 0 1 * *",
        "@yearly" | "@annually" => "0 0 1 1 *",
        _ => return None,
    })
}

impl FromStr for Cron {
    type Err = CronError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let fields_text = if text.starts_with('@') {
            expand_macro(text).ok_or_else(|| CronError::UnknownMacro {
                name: text.to_owned(),
            })?
        } else {
            text
        };
        let fields: Vec<&str> = fields_text.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields[..] else {
            return Err(CronError::FieldCount { got: fields.len() });
        };
        let mut dows = DOW.parse(dow)?;
        if dows & (1 << 7) != 0 {
            dows = (dows & !(1 << 7)) | 1;
        }
        Ok(Cron {
            text: text.to_owned(),
            minutes: MINUTE.parse(minute)?,
            hours: HOUR.parse(hour)?,
            doms: DOM.parse(dom)?,
            months: MONTH.parse(month)?,
            dows,
            dom_star: dom.starts_with('*'),
            dow_star: dow.starts_with('*'),
        })
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Cron {
    /// The next time strictly after `after` (whole minutes, UTC) when the schedule fires; None if
    /// it never does (e.g. `0 0 30 2 *`) or not within the next eight years.
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        let start = unix_seconds_floor(after)
            .div_euclid(60)
            .checked_add(1)?
            .checked_mul(60)?;
        let start = OffsetDateTime::from_unix_timestamp(start).ok()?;
        let found = self.next_from(start.date(), start.hour(), start.minute())?;
        from_unix_seconds(found)
    }

    /// The expression as written (trimmed).
    #[cfg(test)]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first firing at or after `hour:minute` on `date`, as Unix seconds. Walks whole months
    /// and days; within a matching day the time is found with bit arithmetic.
    fn next_from(&self, mut date: Date, mut hour: u8, mut minute: u8) -> Option<i64> {
        let last_year = date.year().checked_add(HORIZON_YEARS)?;
        while date.year() <= last_year {
            if !has(self.months, u8::from(date.month())) {
                date = first_of_next_month(date)?;
            } else if !self.day_matches(date) {
                date = date.next_day()?;
            } else if let Some((h, m)) = self.time_from(hour, minute) {
                return Some(date.with_hms(h, m, 0).ok()?.assume_utc().unix_timestamp());
            } else {
                date = date.next_day()?;
            }
            (hour, minute) = (0, 0);
        }
        None
    }

    /// Whether the schedule allows `date`, with the classic day-of-month/day-of-week OR rule.
    fn day_matches(&self, date: Date) -> bool {
        let dom = has(self.doms, date.day());
        let dow = has(self.dows, date.weekday().number_days_from_sunday());
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first allowed (hour, minute) at or after `hour:minute` on a matching day.
    fn time_from(&self, hour: u8, minute: u8) -> Option<(u8, u8)> {
        let h = next_bit(self.hours, hour)?;
        if h == hour {
            if let Some(m) = next_bit(self.minutes, minute) {
                return Some((h, m));
            }
            let h = next_bit(self.hours, hour + 1)?;
            return Some((h, next_bit(self.minutes, 0)?));
        }
        Some((h, next_bit(self.minutes, 0)?))
    }
}

fn has(bits: u64, n: u8) -> bool {
    n < 64 && bits & (1 << n) != 0
}

/// The smallest set bit at or above `from`.
fn next_bit(bits: u64, from: u8) -> Option<u8> {
    let rest = bits.checked_shr(u32::from(from))?;
    (rest != 0).then(|| from + rest.trailing_zeros() as u8)
}

fn first_of_next_month(date: Date) -> Option<Date> {
    let year = if date.month() == Month::December {
        date.year().checked_add(1)?
    } else {
        date.year()
    };
    Date::from_calendar_date(year, date.month().next(), 1).ok()
}

/// Whole seconds since the epoch, rounded down (also before 1970).
fn unix_seconds_floor(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            let s = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            if d.subsec_nanos() > 0 { -s - 1 } else { -s }
        }
    }
}

fn from_unix_seconds(secs: i64) -> Option<SystemTime> {
    let d = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A UTC wall-clock time as `SystemTime`.
    fn at(y: i32, mo: u8, d: u8, h: u8, mi: u8) -> SystemTime {
        let date = Date::from_calendar_date(y, Month::try_from(mo).unwrap(), d).unwrap();
        let secs = date
            .with_hms(h, mi, 0)
            .unwrap()
            .assume_utc()
            .unix_timestamp();
        from_unix_seconds(secs).unwrap()
    }

    fn cron(s: &str) -> Cron {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// Independent of `next_from`: does the schedule fire in the minute starting at `t`?
    fn matches(c: &Cron, t: SystemTime) -> bool {
        let t = OffsetDateTime::from_unix_timestamp(unix_seconds_floor(t)).unwrap();
        has(c.minutes, t.minute())
            && has(c.hours, t.hour())
            && has(c.months, u8::from(t.month()))
            && c.day_matches(t.date())
    }

    #[test]
    fn parses_valid_expressions() {
        for s in [
            "* * * * *",
            "*/15 * * * *",
            "0 3 * * *",
            "0,30 9-17 * * mon-fri",
            "5-55/10 */2 1,15 * *",
            "10/20 * * * *",
            "0 0 * JAN,Jul Sun",
            "0 0 * * 7",
            "0 0 * * 5-7",
            "  0\t3 * * *  ",
            "59 23 31 12 6",
            "@hourly",
            "@DAILY",
            "@midnight",
            "@weekly",
            "@monthly",
            "@yearly",
            "@annually",
        ] {
            let c = cron(s);
            assert_eq!(c.as_str(), s.trim());
            assert_eq!(c.to_string(), s.trim());
        }
    }

    #[test]
    fn refuses_invalid_expressions_with_a_clear_message() {
        let fields = "expected 5 fields (minute hour day-of-month month day-of-week) or a macro \
                      like @daily";
        let cases = [
            ("0 0 *", format!("{fields}, got 3")),
            ("", format!("{fields}, got 0")),
            ("0 0 * * * *", format!("{fields}, got 6")),
            (
                "@reboot",
                "unknown macro @reboot: expected @hourly, @daily, @midnight, @weekly, @monthly, \
                 @yearly or @annually"
                    .to_owned(),
            ),
            ("60 * * * *", "minute: 60 is out of range 0-59".to_owned()),
            ("0 24 * * *", "hour: 24 is out of range 0-23".to_owned()),
            (
                "0 0 0 * *",
                "day-of-month: 0 is out of range 1-31".to_owned(),
            ),
            (
                "0 0 32 * *",
                "day-of-month: 32 is out of range 1-31".to_owned(),
            ),
            ("0 0 * 13 *", "month: 13 is out of range 1-12".to_owned()),
            ("0 0 * * 8", "day-of-week: 8 is out of range 0-7".to_owned()),
            (
                "99999999999 * * * *",
                "minute: 99999999999 is out of range 0-59".to_owned(),
            ),
            ("x * * * *", "minute: `x` is not a number".to_owned()),
            (
                "0 0 mon * *",
                "day-of-month: `mon` is not a number".to_owned(),
            ),
            (
                "0 0 * foo *",
                "month: `foo` is not a number or a month name (jan..dec)".to_owned(),
            ),
            (
                "0 0 * * funday",
                "day-of-week: `funday` is not a number or a weekday name (sun..sat)".to_owned(),
            ),
            ("-5 * * * *", "minute: `-5` is not a number".to_owned()),
            (
                "0 17-9 * * *",
                "hour: range `17-9` is reversed, expected low-high".to_owned(),
            ),
            (
                "*/0 * * * *",
                "minute: the step in `*/0` must be a positive whole number".to_owned(),
            ),
            (
                "*/x * * * *",
                "minute: the step in `*/x` must be a positive whole number".to_owned(),
            ),
            (
                "*/+5 * * * *",
                "minute: the step in `*/+5` must be a positive whole number".to_owned(),
            ),
            (
                "1,,2 * * * *",
                "minute: empty item in list `1,,2`".to_owned(),
            ),
        ];
        for (s, want) in cases {
            let got = s.parse::<Cron>().map(|c| c.to_string());
            assert_eq!(got.map_err(|e| e.to_string()), Err(want), "{s:?}");
        }
    }

    #[test]
    fn next_after_finds_the_next_firing() {
        let cases = [
            // every minute: strictly after, on the next whole minute
            (
                "* * * * *",
                at(2026, 1, 1, 0, 0),
                Some(at(2026, 1, 1, 0, 1)),
            ),
            (
                "*/15 * * * *",
                at(2026, 1, 1, 0, 0),
                Some(at(2026, 1, 1, 0, 15)),
            ),
            (
                "*/15 * * * *",
                at(2026, 1, 1, 0, 50),
                Some(at(2026, 1, 1, 1, 0)),
            ),
            (
                "10/20 * * * *",
                at(2026, 1, 1, 0, 31),
                Some(at(2026, 1, 1, 0, 50)),
            ),
            (
                "0 3 * * *",
                at(2026, 1, 1, 3, 0),
                Some(at(2026, 1, 2, 3, 0)),
            ),
            (
                "0 3 * * *",
                at(2026, 1, 1, 2, 59),
                Some(at(2026, 1, 1, 3, 0)),
            ),
            // year and month ends
            (
                "0 0 * * *",
                at(2026, 12, 31, 23, 59),
                Some(at(2027, 1, 1, 0, 0)),
            ),
            (
                "0 0 31 * *",
                at(2026, 4, 1, 0, 0),
                Some(at(2026, 5, 31, 0, 0)),
            ),
            (
                "30 23 28-31 2 *",
                at(2026, 2, 1, 0, 0),
                Some(at(2026, 2, 28, 23, 30)),
            ),
            // leap years: Feb 29 only in leap years, across the 2100 non-leap year too
            (
                "0 0 29 2 *",
                at(2026, 3, 1, 0, 0),
                Some(at(2028, 2, 29, 0, 0)),
            ),
            (
                "0 0 29 2 *",
                at(2024, 2, 29, 0, 0),
                Some(at(2028, 2, 29, 0, 0)),
            ),
            (
                "0 0 29 2 *",
                at(2096, 3, 1, 0, 0),
                Some(at(2104, 2, 29, 0, 0)),
            ),
            // names, Sunday as 0 and 7; 2026-01-04 is a Sunday
            (
                "0 9 * * sun",
                at(2026, 1, 1, 0, 0),
                Some(at(2026, 1, 4, 9, 0)),
            ),
            (
                "0 9 * * 7",
                at(2026, 1, 1, 0, 0),
                Some(at(2026, 1, 4, 9, 0)),
            ),
            (
                "0 9 * * 0",
                at(2026, 1, 1, 0, 0),
                Some(at(2026, 1, 4, 9, 0)),
            ),
            (
                "0 9 * * 6-7",
                at(2026, 1, 4, 9, 0),
                Some(at(2026, 1, 10, 9, 0)),
            ),
            (
                "0 9 * * MON-FRI",
                at(2026, 1, 2, 9, 0),
                Some(at(2026, 1, 5, 9, 0)),
            ),
            (
                "0 0 1 JUL *",
                at(2026, 1, 1, 0, 0),
                Some(at(2026, 7, 1, 0, 0)),
            ),
            // dom/dow OR rule: the 15th OR a Monday, whichever comes first (2026-01-05 is Monday)
            (
                "0 0 15 * mon",
                at(2026, 1, 1, 0, 0),
                Some(at(2026, 1, 5, 0, 0)),
            ),
            (
                "0 0 15 * mon",
                at(2026, 1, 12, 0, 0),
                Some(at(2026, 1, 15, 0, 0)),
            ),
            // ...but a `*`-prefixed day field means AND: odd days that are Mondays
            (
                "0 0 */2 * mon",
                at(2026, 1, 1, 0, 0),
                Some(at(2026, 1, 5, 0, 0)),
            ),
            (
                "0 0 */2 * mon",
                at(2026, 1, 5, 0, 0),
                Some(at(2026, 1, 19, 0, 0)),
            ),
            // macros
            ("@hourly", at(2026, 1, 1, 0, 0), Some(at(2026, 1, 1, 1, 0))),
            ("@weekly", at(2026, 1, 1, 0, 0), Some(at(2026, 1, 4, 0, 0))),
            (
                "@monthly",
                at(2026, 1, 31, 0, 0),
                Some(at(2026, 2, 1, 0, 0)),
            ),
            ("@yearly", at(2026, 1, 1, 0, 0), Some(at(2027, 1, 1, 0, 0))),
            // never firing
            ("0 0 30 2 *", at(2026, 1, 1, 0, 0), None),
            ("0 0 31 4,6,9,11 *", at(2026, 1, 1, 0, 0), None),
            // before the epoch
            (
                "0 0 1 1 *",
                at(1969, 6, 1, 0, 0),
                Some(at(1970, 1, 1, 0, 0)),
            ),
        ];
        for (s, after, want) in cases {
            assert_eq!(cron(s).next_after(after), want, "{s:?} after {after:?}");
        }
    }

    #[test]
    fn next_after_rounds_sub_minute_times_up_to_the_next_minute() {
        let c = cron("* * * * *");
        let t = at(2026, 1, 1, 0, 0) + Duration::from_millis(59_999);
        assert_eq!(c.next_after(t), Some(at(2026, 1, 1, 0, 1)));
        let before_epoch = UNIX_EPOCH - Duration::from_millis(1);
        assert_eq!(c.next_after(before_epoch), Some(UNIX_EPOCH));
    }

    #[test]
    fn next_after_is_after_on_a_whole_minute_matching_and_first() {
        let exprs = [
            "* * * * *",
            "*/7 * * * *",
            "0 3 * * *",
            "30 2 * * 1-5",
            "0 0 15 * mon",
            "0 0 */3 * fri",
            "15 6,18 1,31 * *",
            "0 0 29 2 *",
            "0 12 * dec sat",
            "@monthly",
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        let scan = 3 * 24 * 60; // minutes checked by brute force after each t
        for s in exprs {
            let c = cron(s);
            for _ in 0..40 {
                // anywhere in 2020..2040, with a random sub-minute part
                let t =
                    at(2020, 1, 1, 0, 0) + Duration::from_millis(rng.u64(0..20 * 365 * 86_400_000));
                let next = c.next_after(t).unwrap_or_else(|| panic!("{s} never fires"));
                assert!(next > t, "{s}: {next:?} not after {t:?}");
                let secs = unix_seconds_floor(next);
                assert_eq!(secs % 60, 0, "{s}: not a whole minute");
                assert_eq!(
                    next,
                    from_unix_seconds(secs).unwrap(),
                    "{s}: sub-second part"
                );
                assert!(matches(&c, next), "{s}: {next:?} does not match");
                // nothing earlier matches (brute force over the gap, up to `scan` minutes)
                let first = (unix_seconds_floor(t).div_euclid(60) + 1) * 60;
                for i in 0..scan {
                    let m = from_unix_seconds(first + i * 60).unwrap();
                    if m >= next {
                        break;
                    }
                    assert!(!matches(&c, m), "{s}: {m:?} matches before {next:?}");
                }
            }
        }
    }

    #[test]
    fn next_after_is_bounded_and_fast_for_never_firing_expressions() {
        // Refused day/month combinations walk months, not minutes: this returns at once.
        for s in ["0 0 30 2 *", "0 0 31 2,4 *", "* * 31 11 *"] {
            assert_eq!(cron(s).next_after(at(2026, 1, 1, 0, 0)), None, "{s}");
        }
    }

    #[test]
    fn day_of_week_seven_is_folded_into_sunday() {
        assert_eq!(cron("0 0 * * 7").dows, 1);
        assert_eq!(cron("0 0 * * 0,7").dows, 1);
        assert_eq!(cron("0 0 * * 5-7").dows, 0b110_0001);
        assert_eq!(
            cron("*/15 * * * *").minutes,
            1 | 1 << 15 | 1 << 30 | 1 << 45
        );
    }
}
