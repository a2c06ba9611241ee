//! `STR_TO_DATE(text, format)`: the inverse of DATE_FORMAT, read the way MySQL reads it
//! (MySQL 8.0 reference manual, STR_TO_DATE(); `extract_date_time` in sql/item_timefunc.cc
//! for the details): white space in the text is skipped before each part, white space in
//! the format is ignored, other format characters must match exactly, numbers take at most
//! their specifier's width, and text left over after the format is ignored. A value that
//! is not a valid date (including a zero month or day, which MySQL 8's default sql_mode
//! rejects) is NULL.

use reef_common::value::{civil_from_days, days_from_civil, DateTime};

use crate::datum::Datum;
use crate::functions::{DAYS, MONTHS};
use crate::SqlError;

/// Specifiers that read a time of day.
const TIME_SPECIFIERS: &[char] = &['H', 'k', 'h', 'I', 'l', 'i', 's', 'S', 'f', 'p', 'T', 'r'];
/// Specifiers that read a calendar date.
const DATE_SPECIFIERS: &[char] = &['Y', 'y', 'm', 'c', 'd', 'e', 'D', 'M', 'b', 'j'];

fn specifiers(format: &str) -> impl Iterator<Item = char> + '_ {
    let mut chars = format.chars();
    std::iter::from_fn(move || loop {
        match chars.next()? {
            '%' => return chars.next(),
            _ => continue,
        }
    })
}

/// Whether a STR_TO_DATE format reads a time of day (its result is then a DATETIME).
pub fn format_has_time(format: &str) -> bool {
    specifiers(format).any(|c| TIME_SPECIFIERS.contains(&c))
}

/// `STR_TO_DATE(text, format)`: a DATE, or a DATETIME when the format reads a time.
pub(crate) fn str_to_date(text: &Datum, format: &Datum) -> Result<Datum, SqlError> {
    let (Some(text), Some(format)) = (text.to_text(), format.to_text()) else {
        return Ok(Datum::Null);
    };
    let has_date = specifiers(&format).any(|c| DATE_SPECIFIERS.contains(&c));
    let has_time = format_has_time(&format);
    if has_time && !has_date {
        return Err(SqlError::unsupported(
            "STR_TO_DATE with a format of only time parts (a TIME value)",
        ));
    }
    Ok(match read(&text, &format) {
        Some(d) if has_time => Datum::DateTime(d),
        Some(d) => Datum::Date(d),
        None => Datum::Null,
    })
}

/// What the text said, before it is checked as a date.
#[derive(Default)]
struct Parts {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    micro: i64,
    /// `%p`: Some(true) for PM.
    pm: Option<bool>,
    twelve_hour: bool,
    day_of_year: Option<i64>,
}

struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn skip_space(&mut self) {
        while self.s.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn done(&self) -> bool {
        self.at >= self.s.len()
    }

    /// Up to `width` digits (at least one).
    fn number(&mut self, width: usize) -> Option<(i64, usize)> {
        let start = self.at;
        while self.at - start < width && self.s.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        let digits = &self.s[start..self.at];
        if digits.is_empty() {
            return None;
        }
        let n = digits
            .iter()
            .fold(0i64, |acc, b| acc * 10 + (b - b'0') as i64);
        Some((n, digits.len()))
    }

    /// One of `words` (case-insensitive, by its full spelling or, if `abbreviated`, its first
    /// three letters); its index.
    fn word(&mut self, words: &[&str], abbreviated: bool) -> Option<usize> {
        let rest = &self.s[self.at..];
        let len = rest.iter().take_while(|b| b.is_ascii_alphabetic()).count();
        let w = std::str::from_utf8(&rest[..len]).ok()?;
        let i = words.iter().position(|name| {
            if abbreviated {
                name[..3].eq_ignore_ascii_case(w)
            } else {
                name.eq_ignore_ascii_case(w)
            }
        })?;
        self.at += len;
        Some(i)
    }

    fn literal(&mut self, c: u8) -> Option<()> {
        (self.s.get(self.at) == Some(&c)).then(|| self.at += 1)
    }
}

/// A year written with one or two digits: 70..99 are 1970..1999, 0..69 are 2000..2069.
fn two_digit_year(y: i64) -> i64 {
    if y < 70 {
        2000 + y
    } else {
        1900 + y
    }
}

fn read(text: &str, format: &str) -> Option<DateTime> {
    let mut p = Parts::default();
    let mut v = Cursor {
        s: text.as_bytes(),
        at: 0,
    };
    let mut f = format.chars();
    while let Some(c) = f.next() {
        v.skip_space();
        if v.done() {
            break;
        }
        if c != '%' {
            if !c.is_whitespace() {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    v.literal(b)?;
                }
            }
            continue;
        }
        let Some(spec) = f.next() else {
            v.literal(b'%')?;
            break;
        };
        match spec {
            'Y' => {
                let (y, len) = v.number(4)?;
                p.year = if len <= 2 { two_digit_year(y) } else { y };
            }
            'y' => p.year = two_digit_year(v.number(2)?.0),
            'm' | 'c' => p.month = v.number(2)?.0,
            'd' | 'e' => p.day = v.number(2)?.0,
            'D' => {
                p.day = v.number(2)?.0;
                // The ordinal suffix: two letters.
                for _ in 0..2 {
                    v.s.get(v.at).filter(|b| b.is_ascii_alphabetic())?;
                    v.at += 1;
                }
            }
            'j' => p.day_of_year = Some(v.number(3)?.0),
            'M' => p.month = v.word(&MONTHS, false)? as i64 + 1,
            'b' => p.month = v.word(&MONTHS, true)? as i64 + 1,
            'W' => {
                v.word(&DAYS, false)?;
            }
            'a' => {
                v.word(&DAYS, true)?;
            }
            'H' | 'k' => p.hour = v.number(2)?.0,
            'h' | 'I' | 'l' => {
                p.hour = v.number(2)?.0;
                p.twelve_hour = true;
            }
            'i' => p.minute = v.number(2)?.0,
            's' | 'S' => p.second = v.number(2)?.0,
            'f' => {
                let (n, len) = v.number(6)?;
                p.micro = n * 10i64.pow(6 - len as u32);
            }
            'p' => p.pm = Some(v.word(&["AM", "PM"], false)? == 1),
            'T' | 'r' => {
                p.hour = v.number(2)?.0;
                v.literal(b':')?;
                p.minute = v.number(2)?.0;
                v.literal(b':')?;
                p.second = v.number(2)?.0;
                if spec == 'r' {
                    v.skip_space();
                    p.pm = Some(v.word(&["AM", "PM"], false)? == 1);
                    p.twelve_hour = true;
                }
            }
            '%' => v.literal(b'%')?,
            // A specifier STR_TO_DATE does not read (week numbers): the value is NULL, as
            // MySQL gives for formats it cannot complete.
            _ => return None,
        }
    }
    finish(p)
}

fn finish(mut p: Parts) -> Option<DateTime> {
    if p.twelve_hour || p.pm.is_some() {
        if !(1..=12).contains(&p.hour) {
            return None;
        }
        p.hour %= 12;
        if p.pm == Some(true) {
            p.hour += 12;
        }
    }
    if let Some(yday) = p.day_of_year {
        if !(1..=366).contains(&yday) {
            return None;
        }
        let (y, m, d) = civil_from_days(days_from_civil(p.year, 1, 1) + yday - 1);
        if y != p.year {
            return None;
        }
        p.month = m as i64;
        p.day = d as i64;
    }
    let ok = (0..=9999).contains(&p.year)
        && p.hour < 24
        && p.minute < 60
        && p.second < 60
        && (1..=12).contains(&p.month)
        && p.day >= 1;
    if !ok {
        return None;
    }
    let d = DateTime {
        year: p.year as u16,
        month: p.month as u8,
        day: p.day.min(255) as u8,
        hour: p.hour as u8,
        minute: p.minute as u8,
        second: p.second as u8,
        micro: p.micro as u32,
    };
    d.is_valid().then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s2d(text: &str, format: &str) -> String {
        str_to_date(&Datum::str(text), &Datum::str(format))
            .expect("evaluates")
            .to_text()
            .unwrap_or_else(|| "NULL".into())
    }

    #[test]
    fn reads_what_date_format_writes() {
        assert_eq!(s2d("2024-03-09", "%Y-%m-%d"), "2024-03-09");
        assert_eq!(s2d("09/03/24", "%d/%m/%y"), "2024-03-09");
        assert_eq!(s2d("9.3.1999", "%e.%c.%Y"), "1999-03-09");
        assert_eq!(s2d("March 9, 2024", "%M %e, %Y"), "2024-03-09");
        assert_eq!(s2d("mar 9 2024", "%b %e %Y"), "2024-03-09");
        assert_eq!(s2d("Saturday 9th March 2024", "%W %D %M %Y"), "2024-03-09");
        assert_eq!(s2d("2024 069", "%Y %j"), "2024-03-09");
        assert_eq!(
            s2d("2024-03-09 07:05:03 PM", "%Y-%m-%d %h:%i:%s %p"),
            "2024-03-09 19:05:03"
        );
        assert_eq!(
            s2d("20240309 12:00:00 AM", "%Y%m%d %r"),
            "2024-03-09 00:00:00"
        );
        assert_eq!(
            s2d("2024-03-09T10:11:12.5", "%Y-%m-%dT%H:%i:%s.%f"),
            "2024-03-09 10:11:12.500000"
        );
        assert_eq!(s2d("  2024-03-09 trailing", "%Y-%m-%d"), "2024-03-09");
    }

    #[test]
    fn invalid_dates_are_null() {
        assert_eq!(s2d("2024-02-30", "%Y-%m-%d"), "NULL");
        assert_eq!(s2d("2024-13-01", "%Y-%m-%d"), "NULL");
        assert_eq!(s2d("2024/03/09", "%Y-%m-%d"), "NULL");
        assert_eq!(s2d("2024-03", "%Y-%m-%d"), "NULL", "no day");
        assert_eq!(s2d("13:00 PM 2024-01-01", "%h:%i %p %Y-%m-%d"), "NULL");
        assert_eq!(s2d("abc", "%Y"), "NULL");
        assert!(str_to_date(&Datum::str("10:30"), &Datum::str("%H:%i")).is_err());
        assert!(str_to_date(&Datum::Null, &Datum::str("%Y"))
            .unwrap()
            .is_null());
    }
}
