//! Numeric, comparison and temporal functions of the OLTP path, with MySQL's types and NULL
//! rules (MySQL 8.0 reference manual, "Numeric Functions and Operators", "Date and Time
//! Functions", "Comparison Functions and Operators", "Cast Functions and Operators"). Each
//! answers `None` when its name is not one of these, so the caller goes on to the others.

use reef_common::error;
use reef_common::types::ColumnType;
use reef_common::value::{civil_from_days, DateTime, Decimal};
use sqlparser::ast::{CharacterLength, DataType, ExactNumberInfo};

use crate::datum::Datum;
use crate::SqlError;

fn wrong_count(name: &str) -> SqlError {
    SqlError::new(
        error::ER_WRONG_PARAMCOUNT_TO_NATIVE_FCT,
        format!("Incorrect parameter count in the call to native function '{name}'"),
    )
}

/// Evaluates `name(vals)` if it is one of this module's functions.
pub(crate) fn call(name: &str, vals: &[Datum]) -> Option<Result<Datum, SqlError>> {
    let arity = |n: std::ops::RangeInclusive<usize>| {
        if n.contains(&vals.len()) {
            Ok(())
        } else {
            Err(wrong_count(name))
        }
    };
    let r = match name {
        "greatest" | "least" => arity(2..=usize::MAX).map(|()| extreme(vals, name == "greatest")),
        "concat_ws" => arity(1..=usize::MAX).map(|()| concat_ws(vals)),
        "replace" => arity(3..=3).map(|()| replace(vals)),
        "floor" | "ceil" | "ceiling" => {
            arity(1..=1).and_then(|()| floor_ceil(&vals[0], name == "floor"))
        }
        "round" | "truncate" => {
            let range = if name == "round" { 1..=2 } else { 2..=2 };
            arity(range).and_then(|()| round(vals, name == "truncate"))
        }
        "sign" => arity(1..=1).map(|()| sign(&vals[0])),
        "year" | "month" | "day" | "dayofmonth" | "hour" | "minute" | "second" | "quarter"
        | "dayofweek" | "dayofyear" => arity(1..=1).map(|()| part(name, &vals[0])),
        "date" => arity(1..=1).map(|()| date_of(&vals[0])),
        "datediff" => arity(2..=2).map(|()| match (temporal(&vals[0]), temporal(&vals[1])) {
            (Some(a), Some(b)) => Datum::Int(day_number(&a) - day_number(&b)),
            _ => Datum::Null,
        }),
        "to_days" => arity(1..=1).map(|()| {
            temporal(&vals[0]).map_or(Datum::Null, |d| Datum::Int(day_number(&d) + 719_528))
        }),
        "date_format" => arity(2..=2).map(|()| match (temporal(&vals[0]), vals[1].to_text()) {
            (Some(d), Some(f)) => Datum::str(date_format(&d, &f)),
            _ => Datum::Null,
        }),
        "str_to_date" => {
            arity(2..=2).and_then(|()| crate::str_to_date::str_to_date(&vals[0], &vals[1]))
        }
        "unix_timestamp" => arity(0..=1).map(|()| match vals.first() {
            None => Datum::Int(crate::expr::now().unix_micros() / 1_000_000),
            Some(v) => unix_timestamp(v),
        }),
        "from_unixtime" => arity(1..=2).and_then(|()| {
            let Some(d) = from_unixtime(&vals[0])? else {
                return Ok(Datum::Null);
            };
            Ok(match vals.get(1) {
                None => Datum::DateTime(d),
                Some(f) => f
                    .to_text()
                    .map_or(Datum::Null, |f| Datum::str(date_format(&d, &f))),
            })
        }),
        _ => return None,
    };
    Some(r)
}

/// The last second `FROM_UNIXTIME` and `UNIX_TIMESTAMP` cover (3001-01-19 03:14:07 UTC,
/// MySQL 8.0's limit on 64-bit platforms).
const UNIX_SECONDS_MAX: i64 = 32_536_771_199;

/// `UNIX_TIMESTAMP(v)` in ReefDB's time zone (UTC): seconds, with the fraction as a DECIMAL
/// when the value has one; 0 outside 1970..3001 as in MySQL 8; NULL if `v` is no date.
fn unix_timestamp(v: &Datum) -> Datum {
    let Some(d) = temporal(v) else {
        return Datum::Null;
    };
    let us = d.unix_micros();
    if us < 0 || us / 1_000_000 > UNIX_SECONDS_MAX {
        return Datum::Int(0);
    }
    if d.micro == 0 {
        return Datum::Int(us / 1_000_000);
    }
    let text = format!("{}.{:06}", us / 1_000_000, d.micro);
    Decimal::parse(text.trim_end_matches('0')).map_or(Datum::Null, Datum::Decimal)
}

/// The UTC date and time `n` whole seconds after the epoch; `None` for NULL, negative or
/// past 3001 values. A fractional `n` answers 1235: a computed DATETIME is shown without
/// fractional seconds yet.
fn from_unixtime(n: &Datum) -> Result<Option<DateTime>, SqlError> {
    let secs = match n {
        Datum::Null => return Ok(None),
        Datum::Decimal(d) => d.to_i128_exact(),
        other => other.as_exact_int(),
    }
    .ok_or_else(|| SqlError::unsupported("FROM_UNIXTIME of a value with fractional seconds"))?;
    if secs < 0 || secs > UNIX_SECONDS_MAX as i128 {
        return Ok(None);
    }
    Ok(Some(DateTime::from_unix_micros(secs as i64 * 1_000_000)))
}

/// GREATEST / LEAST: NULL if any argument is; otherwise compared as MySQL compares mixed
/// arguments (numbers numerically, strings by collation, temporal values in time order).
fn extreme(vals: &[Datum], greatest: bool) -> Datum {
    if vals.iter().any(Datum::is_null) {
        return Datum::Null;
    }
    let numeric = vals.iter().any(|v| {
        matches!(
            v,
            Datum::Int(_) | Datum::UInt(_) | Datum::Double(_) | Datum::Decimal(_)
        )
    });
    let mut best = &vals[0];
    for v in &vals[1..] {
        let ord = if numeric && !matches!((best, v), (Datum::Str(..), Datum::Str(..))) {
            v.as_f64().partial_cmp(&best.as_f64())
        } else {
            v.compare(best)
        };
        let better = match ord {
            Some(std::cmp::Ordering::Greater) => greatest,
            Some(std::cmp::Ordering::Less) => !greatest,
            _ => false,
        };
        if better {
            best = v;
        }
    }
    if numeric
        && vals
            .iter()
            .any(|v| matches!(v, Datum::Double(_) | Datum::Str(..)))
    {
        return Datum::Double(best.as_f64());
    }
    best.clone()
}

/// CONCAT_WS: NULL separator gives NULL; NULL arguments are skipped.
fn concat_ws(vals: &[Datum]) -> Datum {
    let Some(sep) = vals[0].to_text() else {
        return Datum::Null;
    };
    let parts: Vec<String> = vals[1..].iter().filter_map(Datum::to_text).collect();
    Datum::str(parts.join(&sep))
}

/// REPLACE(str, from, to): every occurrence, compared byte for byte as MySQL does.
fn replace(vals: &[Datum]) -> Datum {
    match (vals[0].to_text(), vals[1].to_text(), vals[2].to_text()) {
        (Some(s), Some(from), Some(to)) if !from.is_empty() => Datum::str(s.replace(&from, &to)),
        (Some(s), Some(_), Some(_)) => Datum::str(s),
        _ => Datum::Null,
    }
}

/// The integer part and whether a fraction was cut off.
fn integer_part(d: &Decimal) -> Option<(i128, bool)> {
    let int = d.truncated(0);
    Some((int.to_i128_exact()?, int != *d))
}

fn from_i128(v: i128, what: &str) -> Result<Datum, SqlError> {
    if let Ok(i) = i64::try_from(v) {
        Ok(Datum::Int(i))
    } else if let Ok(u) = u64::try_from(v) {
        Ok(Datum::UInt(u))
    } else {
        Err(SqlError::new(
            error::ER_DATA_OUT_OF_RANGE,
            format!("BIGINT value is out of range in '{what}'"),
        ))
    }
}

/// FLOOR / CEIL: integers stay, DECIMAL becomes an integer, anything else a DOUBLE.
pub(crate) fn floor_ceil(v: &Datum, floor: bool) -> Result<Datum, SqlError> {
    Ok(match v {
        Datum::Null => Datum::Null,
        Datum::Int(_) | Datum::UInt(_) => v.clone(),
        Datum::Decimal(d) => {
            let (int, cut) = integer_part(d).ok_or_else(|| too_big("FLOOR/CEIL"))?;
            let adjust = match (cut, d.is_negative(), floor) {
                (true, true, true) => -1,
                (true, false, false) => 1,
                _ => 0,
            };
            from_i128(int + adjust, if floor { "floor" } else { "ceiling" })?
        }
        other => {
            let x = other.as_f64();
            Datum::Double(if floor { x.floor() } else { x.ceil() })
        }
    })
}

fn too_big(what: &str) -> SqlError {
    SqlError::unsupported(format!("{what} of a DECIMAL beyond 38 digits"))
}

/// ROUND(x[, d]) rounds half away from zero for exact values and to the nearest even for
/// DOUBLEs (MySQL's `rint`); TRUNCATE(x, d) cuts toward zero. The result keeps x's type; a
/// DECIMAL gets `max(d, 0)` fractional digits.
fn round(vals: &[Datum], truncate: bool) -> Result<Datum, SqlError> {
    let x = &vals[0];
    let d = match vals.get(1) {
        None => 0,
        Some(Datum::Null) => return Ok(Datum::Null),
        Some(v) => v.as_f64().clamp(-100.0, 100.0) as i32,
    };
    Ok(match x {
        Datum::Null => Datum::Null,
        Datum::Int(_) | Datum::UInt(_) if d >= 0 => x.clone(),
        Datum::Int(_) | Datum::UInt(_) => {
            let v = x.as_exact_int().expect("an integer datum");
            from_i128(
                to_unit(v, d, truncate),
                if truncate { "truncate" } else { "round" },
            )?
        }
        Datum::Decimal(dec) => Datum::Decimal(round_decimal(dec, d, truncate)?),
        other => {
            let v = other.as_f64();
            let p = 10f64.powi(d);
            let scaled = v * p;
            let r = if truncate {
                scaled.trunc()
            } else {
                scaled.round_ties_even()
            };
            Datum::Double(if r.is_finite() { r / p } else { v })
        }
    })
}

fn round_decimal(dec: &Decimal, d: i32, truncate: bool) -> Result<Decimal, SqlError> {
    if d >= 0 {
        let scale = (d as u8).min(reef_common::value::DECIMAL_SCALE_MAX);
        return Ok(if truncate {
            dec.truncated(scale)
        } else {
            dec.rescale(scale)
        });
    }
    // The fraction cannot decide a rounding to tens or more: the integer part does.
    let (int, _) = integer_part(dec).ok_or_else(|| too_big("ROUND"))?;
    Ok(Decimal::from_i128(to_unit(int, d, truncate)))
}

/// `v` rounded (half away from zero) or cut toward zero to a multiple of `10^-d`, `d < 0`.
fn to_unit(v: i128, d: i32, truncate: bool) -> i128 {
    if -d > 38 {
        return 0;
    }
    let unit = 10i128.pow((-d) as u32);
    let rest = v % unit;
    let mut r = v - rest;
    if !truncate && rest.abs() * 2 >= unit {
        r += unit * v.signum();
    }
    r
}

fn sign(v: &Datum) -> Datum {
    match v {
        Datum::Null => Datum::Null,
        Datum::Decimal(d) => Datum::Int(if d.is_zero() {
            0
        } else if d.is_negative() {
            -1
        } else {
            1
        }),
        other => {
            let x = other.as_f64();
            Datum::Int(if x > 0.0 {
                1
            } else if x < 0.0 {
                -1
            } else {
                0
            })
        }
    }
}

/// A temporal value from a DATE, DATETIME or a string or number that spells one
/// (`'2024-01-02'`, `20240102`, `20240102030405`).
fn temporal(v: &Datum) -> Option<DateTime> {
    match v {
        Datum::Date(d) | Datum::DateTime(d) => Some(*d),
        Datum::Null => None,
        other => {
            let text = other.to_text()?;
            let t = text.trim();
            if matches!(t.len(), 8 | 14) && t.bytes().all(|b| b.is_ascii_digit()) {
                let n = |r: std::ops::Range<usize>| t.get(r).map_or(0, |x| x.parse().unwrap_or(0));
                let d = DateTime {
                    year: n(0..4) as u16,
                    month: n(4..6) as u8,
                    day: n(6..8) as u8,
                    hour: n(8..10) as u8,
                    minute: n(10..12) as u8,
                    second: n(12..14) as u8,
                    micro: 0,
                };
                return d.is_valid().then_some(d);
            }
            DateTime::parse(t).ok()
        }
    }
}

/// The DATE part of a temporal value (`DATE(v)`, `CAST(v AS DATE)`); NULL if it is none.
fn date_of(v: &Datum) -> Datum {
    temporal(v).map_or(Datum::Null, |d| {
        Datum::Date(DateTime {
            hour: 0,
            minute: 0,
            second: 0,
            micro: 0,
            ..d
        })
    })
}

/// Days since 1970-01-01 (proleptic Gregorian).
fn day_number(d: &DateTime) -> i64 {
    d.days()
}

/// 0 = Monday .. 6 = Sunday.
fn weekday(d: &DateTime) -> i64 {
    (day_number(d) + 3).rem_euclid(7)
}

fn day_of_year(d: &DateTime) -> i64 {
    day_number(d)
        - day_number(&DateTime {
            month: 1,
            day: 1,
            ..*d
        })
        + 1
}

fn part(name: &str, v: &Datum) -> Datum {
    let Some(d) = temporal(v) else {
        return Datum::Null;
    };
    Datum::Int(match name {
        "year" => d.year as i64,
        "month" => d.month as i64,
        "day" | "dayofmonth" => d.day as i64,
        "hour" => d.hour as i64,
        "minute" => d.minute as i64,
        "second" => d.second as i64,
        "quarter" => (d.month as i64 + 2) / 3,
        "dayofweek" => (weekday(&d) + 1) % 7 + 1,
        "dayofyear" => day_of_year(&d),
        _ => unreachable!("dispatched above"),
    })
}

pub(crate) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub(crate) const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// DATE_FORMAT's specifiers (MySQL 8.0 manual, DATE_FORMAT()); an unknown one prints its
/// letter, as MySQL does.
fn date_format(d: &DateTime, f: &str) -> String {
    let mut out = String::with_capacity(f.len() + 8);
    let mut chars = f.chars();
    let month = MONTHS.get((d.month as usize).wrapping_sub(1)).copied();
    let day_name = DAYS[weekday(d) as usize];
    let h12 = match d.hour % 12 {
        0 => 12,
        h => h,
    };
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(s) = chars.next() else { break };
        match s {
            'Y' => out.push_str(&format!("{:04}", d.year)),
            'y' => out.push_str(&format!("{:02}", d.year % 100)),
            'm' => out.push_str(&format!("{:02}", d.month)),
            'c' => out.push_str(&d.month.to_string()),
            'M' => out.push_str(month.unwrap_or("")),
            'b' => out.push_str(month.map_or("", |m| &m[..3])),
            'd' => out.push_str(&format!("{:02}", d.day)),
            'e' => out.push_str(&d.day.to_string()),
            'D' => {
                let suffix = match (d.day % 10, d.day % 100) {
                    (_, 11..=13) => "th",
                    (1, _) => "st",
                    (2, _) => "nd",
                    (3, _) => "rd",
                    _ => "th",
                };
                out.push_str(&format!("{}{suffix}", d.day));
            }
            'j' => out.push_str(&format!("{:03}", day_of_year(d))),
            'W' => out.push_str(day_name),
            'a' => out.push_str(&day_name[..3]),
            'w' => out.push_str(&((weekday(d) + 1) % 7).to_string()),
            'H' => out.push_str(&format!("{:02}", d.hour)),
            'k' => out.push_str(&d.hour.to_string()),
            'h' | 'I' => out.push_str(&format!("{h12:02}")),
            'l' => out.push_str(&h12.to_string()),
            'i' => out.push_str(&format!("{:02}", d.minute)),
            's' | 'S' => out.push_str(&format!("{:02}", d.second)),
            'f' => out.push_str(&format!("{:06}", d.micro)),
            'p' => out.push_str(if d.hour < 12 { "AM" } else { "PM" }),
            'T' => out.push_str(&format!("{:02}:{:02}:{:02}", d.hour, d.minute, d.second)),
            'r' => out.push_str(&format!(
                "{h12:02}:{:02}:{:02} {}",
                d.minute,
                d.second,
                if d.hour < 12 { "AM" } else { "PM" }
            )),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> DateTime {
        DateTime::parse(s).unwrap()
    }

    #[test]
    fn day_numbers_and_weekdays_match_the_calendar() {
        assert_eq!(day_number(&dt("1970-01-01")), 0);
        assert_eq!(day_number(&dt("2000-03-01")), 11_017);
        assert_eq!(day_number(&dt("1969-12-31")), -1);
        assert_eq!(weekday(&dt("2026-11-22")), 6, "a Sunday");
        assert_eq!(day_of_year(&dt("2024-12-31")), 366);
    }

    #[test]
    fn date_format_spells_each_specifier() {
        let d = dt("2026-03-01 13:05:09.000042");
        assert_eq!(
            date_format(&d, "%Y-%m-%d %H:%i:%s.%f %y %c %e %D %M %b %W %a %j %k %h %l %p %T %r %% %q"),
            "2026-03-01 13:05:09.000042 26 3 1 1st March Mar Sunday Sun 060 13 01 1 PM 13:05:09 01:05:09 PM % q"
        );
    }

    #[test]
    fn rounding_keeps_types_and_mysqls_rules() {
        let dec = |s: &str| Datum::Decimal(Decimal::parse(s).unwrap());
        let r = |v: Datum, d: i64| round(&[v, Datum::Int(d)], false).unwrap();
        assert_eq!(r(dec("2.5"), 0), dec("3"));
        assert_eq!(r(dec("-2.5"), 0), dec("-3"));
        assert_eq!(r(dec("1234.567"), -2), dec("1200"));
        assert_eq!(r(dec("1249.5"), -2), dec("1200"), "no double rounding");
        assert_eq!(r(dec("-1250"), -2), dec("-1300"));
        assert_eq!(r(Datum::Int(1250), -2), Datum::Int(1300));
        assert_eq!(r(Datum::Int(-1250), -2), Datum::Int(-1300));
        assert_eq!(r(Datum::Double(2.5), 0), Datum::Double(2.0));
        assert_eq!(
            round(&[dec("1.999"), Datum::Int(2)], true).unwrap(),
            dec("1.99")
        );
        assert_eq!(floor_ceil(&dec("-1.5"), true).unwrap(), Datum::Int(-2));
        assert_eq!(floor_ceil(&dec("1.5"), false).unwrap(), Datum::Int(2));
    }
}

/// An interval's unit, as DATE_ADD and `+ INTERVAL` take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IntervalUnit {
    Microsecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
    /// A composite unit of time (`HOUR_MINUTE`, `DAY_SECOND`, ...): the fields its text
    /// holds, largest first, as multiples of a microsecond.
    Composite(&'static [i64]),
    /// `YEAR_MONTH`: years and months, calendar arithmetic.
    YearMonth,
}

const US_SECOND: i64 = 1_000_000;
const US_MINUTE: i64 = 60 * US_SECOND;
const US_HOUR: i64 = 60 * US_MINUTE;
const US_DAY: i64 = 24 * US_HOUR;

impl IntervalUnit {
    /// The unit of a parsed `INTERVAL v UNIT`. Composite units reach the parser rewritten
    /// as `FIRST TO LAST` (see `names::mysql_spellings`), SECOND_MICROSECOND as
    /// `MICROSECOND TO SECOND` because the parser reads nothing after `SECOND`.
    pub(crate) fn of(
        leading: &sqlparser::ast::DateTimeField,
        last: Option<&sqlparser::ast::DateTimeField>,
    ) -> Option<IntervalUnit> {
        use sqlparser::ast::DateTimeField as F;
        use IntervalUnit::Composite as C;
        let Some(last) = last else {
            return Some(match leading {
                F::Microsecond | F::Microseconds => IntervalUnit::Microsecond,
                F::Second | F::Seconds => IntervalUnit::Second,
                F::Minute | F::Minutes => IntervalUnit::Minute,
                F::Hour | F::Hours => IntervalUnit::Hour,
                F::Day | F::Days => IntervalUnit::Day,
                F::Week(None) | F::Weeks => IntervalUnit::Week,
                F::Month | F::Months => IntervalUnit::Month,
                F::Quarter => IntervalUnit::Quarter,
                F::Year | F::Years => IntervalUnit::Year,
                _ => return None,
            });
        };
        Some(match (leading, last) {
            (F::Year, F::Month) => IntervalUnit::YearMonth,
            (F::Day, F::Hour) => C(&[US_DAY, US_HOUR]),
            (F::Day, F::Minute) => C(&[US_DAY, US_HOUR, US_MINUTE]),
            (F::Day, F::Second) => C(&[US_DAY, US_HOUR, US_MINUTE, US_SECOND]),
            (F::Day, F::Microsecond) => C(&[US_DAY, US_HOUR, US_MINUTE, US_SECOND, 1]),
            (F::Hour, F::Minute) => C(&[US_HOUR, US_MINUTE]),
            (F::Hour, F::Second) => C(&[US_HOUR, US_MINUTE, US_SECOND]),
            (F::Hour, F::Microsecond) => C(&[US_HOUR, US_MINUTE, US_SECOND, 1]),
            (F::Minute, F::Second) => C(&[US_MINUTE, US_SECOND]),
            (F::Minute, F::Microsecond) => C(&[US_MINUTE, US_SECOND, 1]),
            (F::Microsecond, F::Second) => C(&[US_SECOND, 1]),
            _ => return None,
        })
    }

    fn date_sized(self) -> bool {
        matches!(
            self,
            IntervalUnit::Day
                | IntervalUnit::Week
                | IntervalUnit::Month
                | IntervalUnit::Quarter
                | IntervalUnit::Year
                | IntervalUnit::YearMonth
        )
    }
}

/// Whether `DATE + interval` stays a DATE: the interval's unit is day-sized (DAY, WEEK,
/// MONTH, QUARTER, YEAR, YEAR_MONTH).
pub fn interval_keeps_date(iv: &sqlparser::ast::Interval) -> bool {
    iv.leading_field
        .as_ref()
        .and_then(|f| IntervalUnit::of(f, iv.last_field.as_ref()))
        .is_some_and(IntervalUnit::date_sized)
}

fn days_in_month(y: i64, m: u8) -> u8 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// How far an interval moves a value: months are calendar arithmetic, the rest exact.
enum Shift {
    Months(i64),
    Micros(i64),
}

/// The fields of a composite interval's text, as MySQL reads them (`get_interval_info` in
/// sql/item_timefunc.cc): a leading `-` negates the whole; digit groups split by any other
/// characters; fewer groups than fields fill the smallest fields; a microsecond field's
/// digits are a fraction of a second ('1.5' SECOND_MICROSECOND is 1.5 s). More groups than
/// fields is no interval.
fn composite_fields(text: &str, fields: usize, micro_last: bool) -> Option<(bool, Vec<i64>)> {
    let t = text.trim_start();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let groups: Vec<&str> = t
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect();
    if groups.len() > fields || groups.is_empty() {
        return None;
    }
    let mut values = vec![0i64; fields - groups.len()];
    for g in &groups {
        values.push(g.parse::<i64>().ok().filter(|v| *v < 1_000_000_000_000)?);
    }
    if micro_last {
        let digits = groups.last().map_or(0, |g| g.len()) as u32;
        let last = values.last_mut()?;
        *last = match digits {
            0..=6 => *last * 10i64.pow(6 - digits),
            _ => *last / 10i64.pow(digits - 6),
        };
    }
    Some((neg, values))
}

fn shift(amount: &Datum, unit: IntervalUnit, negate: bool) -> Option<Shift> {
    let sign = if negate { -1 } else { 1 };
    let composite = |steps: &[i64], micro_last: bool| -> Option<(i64, i64)> {
        let text = amount.to_text()?;
        let (neg, values) = composite_fields(&text, steps.len(), micro_last)?;
        let total = values.iter().zip(steps).try_fold(0i64, |acc, (v, step)| {
            acc.checked_add(v.checked_mul(*step)?)
        })?;
        Some((total, if neg { -sign } else { sign }))
    };
    match unit {
        IntervalUnit::Composite(steps) => {
            let (us, sign) = composite(steps, steps.last() == Some(&1))?;
            return Some(Shift::Micros(us * sign));
        }
        IntervalUnit::YearMonth => {
            let (months, sign) = composite(&[12, 1], false)?;
            return Some(Shift::Months(months * sign));
        }
        _ => {}
    }
    let x = amount.as_f64();
    // Seconds keep a fraction (INTERVAL 1.5 SECOND); other units round to whole ones.
    if unit == IntervalUnit::Second && x.fract() != 0.0 {
        let us = (x * 1e6).round();
        return (us.is_finite() && us.abs() < 1e18).then(|| Shift::Micros(sign * us as i64));
    }
    let n = x.round();
    if !n.is_finite() || n.abs() > 1e15 {
        return None;
    }
    let n = sign * n as i64;
    Some(match unit {
        IntervalUnit::Month => Shift::Months(n),
        IntervalUnit::Quarter => Shift::Months(n * 3),
        IntervalUnit::Year => Shift::Months(n * 12),
        IntervalUnit::Microsecond => Shift::Micros(n),
        IntervalUnit::Second => Shift::Micros(n.checked_mul(US_SECOND)?),
        IntervalUnit::Minute => Shift::Micros(n.checked_mul(US_MINUTE)?),
        IntervalUnit::Hour => Shift::Micros(n.checked_mul(US_HOUR)?),
        IntervalUnit::Day => Shift::Micros(n.checked_mul(US_DAY)?),
        _ => Shift::Micros(n.checked_mul(7 * US_DAY)?),
    })
}

/// `v + INTERVAL amount unit` (DATE_ADD; DATE_SUB and `-` pass `negate`), as MySQL
/// computes it: a DATE stays a DATE for day-sized units, month arithmetic keeps the day
/// unless the month is shorter, and a result outside years 0000–9999 is NULL.
pub(crate) fn add_interval(v: &Datum, amount: &Datum, unit: IntervalUnit, negate: bool) -> Datum {
    let Some(d) = temporal(v) else {
        return Datum::Null;
    };
    if amount.is_null() {
        return Datum::Null;
    }
    let Some(shift) = shift(amount, unit, negate) else {
        return Datum::Null;
    };
    let is_date = match v {
        Datum::Date(_) => true,
        Datum::DateTime(_) => false,
        other => other
            .to_text()
            .is_some_and(|t| !t.trim().contains([' ', 'T', ':'])),
    };
    let out = match shift {
        Shift::Months(months) => {
            let total = (d.year as i64) * 12 + (d.month as i64 - 1) + months;
            let (y, m) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u8);
            if !(0..=9999).contains(&y) {
                return Datum::Null;
            }
            DateTime {
                year: y as u16,
                month: m,
                day: d.day.min(days_in_month(y, m)),
                ..d
            }
        }
        Shift::Micros(delta) => {
            let Some(t) = d.unix_micros().checked_add(delta) else {
                return Datum::Null;
            };
            if !(0..=9999).contains(&civil_from_days(t.div_euclid(US_DAY)).0) {
                return Datum::Null;
            }
            DateTime::from_unix_micros(t)
        }
    };
    if is_date && unit.date_sized() {
        Datum::Date(out)
    } else {
        Datum::DateTime(out)
    }
}

#[cfg(test)]
mod interval_tests {
    use super::*;

    fn add(v: &str, n: i64, unit: IntervalUnit) -> String {
        add_interval(&Datum::str(v), &Datum::Int(n), unit, false)
            .to_text()
            .unwrap_or_else(|| "NULL".into())
    }

    #[test]
    fn intervals_follow_the_calendar() {
        assert_eq!(add("2024-01-31", 1, IntervalUnit::Month), "2024-02-29");
        assert_eq!(add("2023-01-31", 1, IntervalUnit::Month), "2023-02-28");
        assert_eq!(add("2024-02-29", 1, IntervalUnit::Year), "2025-02-28");
        assert_eq!(add("2024-12-31", 1, IntervalUnit::Day), "2025-01-01");
        assert_eq!(add("2024-03-01", -1, IntervalUnit::Day), "2024-02-29");
        assert_eq!(
            add("2024-01-01", 1, IntervalUnit::Hour),
            "2024-01-01 01:00:00"
        );
        assert_eq!(
            add("2024-01-01 23:59:59", 1, IntervalUnit::Second),
            "2024-01-02 00:00:00"
        );
        assert_eq!(add("2024-01-01", -1, IntervalUnit::Quarter), "2023-10-01");
        let composite = |v: &str, amount: &str, lead, last| {
            let unit = IntervalUnit::of(&lead, Some(&last)).expect("a composite unit");
            add_interval(&Datum::str(v), &Datum::str(amount), unit, false)
                .to_text()
                .unwrap_or_else(|| "NULL".into())
        };
        use sqlparser::ast::DateTimeField as F;
        assert_eq!(
            composite("2024-01-01 00:00:00", "1:30", F::Hour, F::Minute),
            "2024-01-01 01:30:00"
        );
        assert_eq!(
            composite("2024-01-01", "-1 2:03:04", F::Day, F::Second),
            "2023-12-30 21:56:56"
        );
        assert_eq!(
            composite("2024-01-01", "3:04", F::Day, F::Second),
            "2024-01-01 00:03:04",
            "missing leading fields are zero"
        );
        assert_eq!(
            composite("2024-01-31", "1-1", F::Year, F::Month),
            "2025-02-28"
        );
        assert_eq!(
            composite("2024-01-01", "1.5", F::Microsecond, F::Second),
            "2024-01-01 00:00:01.500000"
        );
        assert_eq!(composite("2024-01-01", "1:2:3", F::Hour, F::Minute), "NULL");
        assert_eq!(add("9999-12-31", 1, IntervalUnit::Day), "NULL");
        for z in [-800_000i64, -1, 0, 59, 11_016, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            let back = day_number(&DateTime {
                year: y as u16,
                month: m,
                day: d,
                hour: 0,
                minute: 0,
                second: 0,
                micro: 0,
            });
            if y >= 0 {
                assert_eq!(back, z, "{y}-{m}-{d}");
            }
        }
    }
}

/// The type `CAST(v AS ty)` gives; `None` for a target ReefDB does not cast to yet (TIME,
/// JSON, DATETIME with fractional digits). A length-less CHAR or BINARY is unbounded.
pub fn cast_type(ty: &DataType) -> Option<ColumnType> {
    let length = |len: &Option<u64>| len.map_or(u32::MAX, |n| n.min(u32::MAX as u64) as u32);
    Some(match ty {
        DataType::Signed | DataType::SignedInteger => ColumnType::Int {
            bytes: 8,
            unsigned: false,
        },
        DataType::Unsigned | DataType::UnsignedInteger => ColumnType::Int {
            bytes: 8,
            unsigned: true,
        },
        DataType::Char(len) | DataType::Character(len) => ColumnType::String {
            len_chars: length(&match len {
                Some(CharacterLength::IntegerLength { length, .. }) => Some(*length),
                _ => None,
            }),
            fixed: false,
            collation: Default::default(),
        },
        DataType::Binary(len) => ColumnType::Binary {
            len_bytes: length(len),
            fixed: len.is_some(),
        },
        DataType::Date => ColumnType::Date,
        // A computed DATETIME is shown without fractional seconds (its value carries no
        // precision yet), so only whole seconds are cast to.
        DataType::Datetime(None | Some(0)) => ColumnType::DateTime { fsp: 0 },
        DataType::Decimal(info) | DataType::Dec(info) | DataType::Numeric(info) => {
            let (p, s) = match info {
                ExactNumberInfo::None => (10, 0),
                ExactNumberInfo::Precision(p) => (*p, 0),
                ExactNumberInfo::PrecisionAndScale(p, s) => (*p, (*s).max(0) as u64),
            };
            if p == 0 || p > 65 || s > 30 || s > p {
                return None;
            }
            ColumnType::Decimal {
                precision: p as u8,
                scale: s as u8,
            }
        }
        DataType::Double(_) | DataType::DoublePrecision | DataType::Real => ColumnType::Double,
        DataType::Float(_) => ColumnType::Float,
        _ => return None,
    })
}

/// `CAST(v AS ty)` / `CONVERT(v, ty)` as MySQL evaluates them in expressions: lenient
/// (a string that is not a number reads as its numeric prefix, an invalid date is NULL, an
/// out-of-range DECIMAL takes the type's largest value), never an error for a value;
/// `None` for a target the OLTP path does not convert to (see [`cast_type`]).
pub fn cast(v: &Datum, ty: &DataType) -> Option<Datum> {
    let target = cast_type(ty)?;
    if v.is_null() {
        return Some(Datum::Null);
    }
    Some(match target {
        ColumnType::Int {
            unsigned: false, ..
        } => Datum::Int(cast_integer(v) as i64),
        ColumnType::Int { unsigned: true, .. } => Datum::UInt(cast_integer(v)),
        ColumnType::String { len_chars, .. } => {
            let text = v.to_text().unwrap_or_default();
            Datum::str(if len_chars == u32::MAX {
                text
            } else {
                text.chars().take(len_chars as usize).collect()
            })
        }
        ColumnType::Binary { len_bytes, fixed } => {
            let mut bytes = match v {
                Datum::Str(b, _) | Datum::Bytes(b) => b.clone(),
                other => other.to_text().unwrap_or_default().into_bytes(),
            };
            if fixed {
                bytes.resize(len_bytes as usize, 0);
            }
            Datum::Bytes(bytes)
        }
        ColumnType::Date => date_of(v),
        ColumnType::DateTime { .. } | ColumnType::Timestamp { .. } => {
            temporal(v).map_or(Datum::Null, |d| {
                let dt = if d.micro >= 500_000 {
                    DateTime::from_unix_micros(d.unix_micros() - d.micro as i64 + 1_000_000)
                } else {
                    DateTime { micro: 0, ..d }
                };
                Datum::DateTime(dt)
            })
        }
        ColumnType::Decimal { precision, scale } => {
            Datum::Decimal(cast_decimal(v, precision as usize, scale))
        }
        ColumnType::Double => Datum::Double(v.as_f64()),
        ColumnType::Float => Datum::Double(v.as_f64() as f32 as f64),
    })
}

/// The integer a CAST to SIGNED or UNSIGNED reads, as 64 bits (the caller picks the sign):
/// exact values round half away from zero, doubles to even, strings take their integer
/// prefix (saturating), temporal values their digits.
fn cast_integer(v: &Datum) -> u64 {
    let saturate = |i: i128| i.clamp(i64::MIN as i128, u64::MAX as i128);
    let i = match v {
        Datum::Int(i) => *i as i128,
        Datum::UInt(u) => *u as i128,
        Datum::Double(d) => saturate(d.round_ties_even() as i128),
        Datum::Decimal(d) => d.rescale(0).to_i128_exact().map_or(
            if d.is_negative() {
                i64::MIN as i128
            } else {
                u64::MAX as i128
            },
            saturate,
        ),
        Datum::Str(s, _) | Datum::Bytes(s) => {
            let t = String::from_utf8_lossy(s);
            let t = t.trim_start();
            let (neg, digits) = match t.as_bytes().first() {
                Some(b'-') => (true, &t[1..]),
                Some(b'+') => (false, &t[1..]),
                _ => (false, t),
            };
            let n = digits
                .bytes()
                .take_while(u8::is_ascii_digit)
                .try_fold(0i128, |acc, b| {
                    acc.checked_mul(10)?.checked_add((b - b'0') as i128)
                })
                .map_or(u64::MAX as i128, |n| n.min(u64::MAX as i128));
            if neg {
                -(n.min(i64::MIN.unsigned_abs() as i128))
            } else {
                n
            }
        }
        Datum::Date(d) => d.date_number() as i128,
        Datum::DateTime(d) => d.datetime_number() as i128,
        Datum::Null => 0,
    };
    i as i64 as u64
}

/// A DECIMAL(p, s) value: rounded half away from zero at scale `s`; past `p` digits the
/// largest value of the type with the value's sign.
fn cast_decimal(v: &Datum, p: usize, s: u8) -> Decimal {
    let d = match v {
        Datum::Decimal(d) => d.clone(),
        Datum::Int(i) => Decimal::from_i128(*i as i128),
        Datum::UInt(u) => Decimal::from_i128(*u as i128),
        // Doubles, strings (their numeric prefix) and temporal values, through a double.
        other => {
            Decimal::parse(&format!("{}", other.as_f64())).unwrap_or_else(|_| Decimal::from_i128(0))
        }
    };
    let d = d.rescale(s);
    if d.precision() <= p {
        return d;
    }
    let nines = "9".repeat(p - s as usize) + if s > 0 { "." } else { "" } + &"9".repeat(s as usize);
    let max = Decimal::parse(&nines).expect("nines parse");
    if d.is_negative() {
        max.negated()
    } else {
        max
    }
}
