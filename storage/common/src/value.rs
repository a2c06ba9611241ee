//! Values as they cross the storage boundary, with MySQL's DECIMAL and temporal types.

use std::cmp::Ordering;
use std::fmt;
use std::sync::LazyLock;

use crate::types::PhysicalKind;

mod decimal_arith;

/// One column value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// Signed integers, and DATE/DATETIME/TIMESTAMP in packed form (see [`DateTime::pack`]).
    Int(i64),
    /// Unsigned integers.
    UInt(u64),
    /// FLOAT and DOUBLE.
    Double(f64),
    /// Character strings (UTF-8), binary strings, and DECIMAL in canonical text form.
    Bytes(Vec<u8>),
}

impl Value {
    /// The physical kind of a non-NULL value.
    pub fn kind(&self) -> Option<PhysicalKind> {
        match self {
            Value::Null => None,
            Value::Int(_) => Some(PhysicalKind::Int),
            Value::UInt(_) => Some(PhysicalKind::UInt),
            Value::Double(_) => Some(PhysicalKind::Double),
            Value::Bytes(_) => Some(PhysicalKind::Bytes),
        }
    }

    /// Whether this is NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// Error parsing a DECIMAL or temporal literal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} value: {text:?}")]
pub struct ParseValueError {
    /// What was being parsed.
    pub what: &'static str,
    /// The offending text.
    pub text: String,
}

/// Most decimal digits in a DECIMAL, as in MySQL.
pub const DECIMAL_DIGITS_MAX: usize = 65;
/// Most digits after the point in a DECIMAL, as in MySQL.
pub const DECIMAL_SCALE_MAX: u8 = 30;

/// An exact decimal number of up to 65 digits: `coefficient * 10^-scale`. Kept normalized
/// (no leading zeros in the coefficient, no negative zero); trailing fractional zeros are kept
/// because DECIMAL(10,2) prints `1.50`, but equality and ordering ignore them.
#[derive(Clone, Debug, Eq)]
pub struct Decimal {
    negative: bool,
    /// Coefficient digits, most significant first, each 0..=9; empty means zero.
    digits: Vec<u8>,
    scale: u8,
}

impl Decimal {
    /// Parses MySQL decimal text: optional sign, digits, optional point and digits,
    /// optional exponent.
    pub fn parse(text: &str) -> Result<Decimal, ParseValueError> {
        let err = || ParseValueError {
            what: "DECIMAL",
            text: text.to_string(),
        };
        let t = text.trim();
        let (negative, t) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (mantissa, exp) = match t.find(['e', 'E']) {
            Some(p) => (&t[..p], t[p + 1..].parse::<i32>().map_err(|_| err())?),
            None => (t, 0),
        };
        let (int_part, frac_part) = match mantissa.find('.') {
            Some(p) => (&mantissa[..p], &mantissa[p + 1..]),
            None => (mantissa, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(err());
        }
        let mut digits = Vec::with_capacity(int_part.len() + frac_part.len());
        for c in int_part.bytes().chain(frac_part.bytes()) {
            if !c.is_ascii_digit() {
                return Err(err());
            }
            digits.push(c - b'0');
        }
        let mut scale = frac_part.len() as i32 - exp;
        if scale < 0 {
            digits.extend(std::iter::repeat_n(0, (-scale) as usize));
            scale = 0;
        }
        if scale > 255 {
            return Err(err());
        }
        Ok(Decimal::from_parts(negative, digits, scale as u8))
    }

    fn from_parts(negative: bool, mut digits: Vec<u8>, scale: u8) -> Decimal {
        let lead = digits.iter().position(|&d| d != 0).unwrap_or(digits.len());
        digits.drain(..lead);
        let negative = negative && !digits.is_empty();
        Decimal {
            negative,
            digits,
            scale,
        }
    }

    /// The decimal equal to an integer.
    pub fn from_i128(v: i128) -> Decimal {
        let digits = v
            .unsigned_abs()
            .to_string()
            .bytes()
            .map(|b| b - b'0')
            .collect();
        Decimal::from_parts(v < 0, digits, 0)
    }

    /// The decimal `unscaled * 10^-scale` (a DECIMAL stored as a scaled integer).
    pub fn from_unscaled(unscaled: i64, scale: u8) -> Decimal {
        let mut digits: Vec<u8> = Vec::with_capacity(20);
        let mut v = unscaled.unsigned_abs();
        while v > 0 {
            digits.push((v % 10) as u8);
            v /= 10;
        }
        digits.reverse();
        Decimal::from_parts(unscaled < 0, digits, scale)
    }

    /// The coefficient at exactly `self.scale()` digits after the point, if it fits an i64
    /// (the stored form of DECIMAL columns of up to 18 digits).
    pub fn unscaled_i64(&self) -> Option<i64> {
        if self.digits.len() > 19 {
            return None;
        }
        let mut v: i128 = 0;
        for &d in &self.digits {
            v = v * 10 + i128::from(d);
        }
        i64::try_from(if self.negative { -v } else { v }).ok()
    }

    /// Digits after the point.
    pub fn scale(&self) -> u8 {
        self.scale
    }

    /// Whether this is below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// Significant digits and the decimal exponent `e` such that the value is
    /// `0.d1d2d3... * 10^e`; trailing zeros dropped. Zero gives no digits.
    pub fn normalized(&self) -> (&[u8], i32) {
        let end = self
            .digits
            .iter()
            .rposition(|&d| d != 0)
            .map_or(0, |p| p + 1);
        let sig = &self.digits[..end];
        (sig, self.digits.len() as i32 - self.scale as i32)
    }

    /// Total digits of the integer part and scale, as DECIMAL(p, s) counts them.
    pub fn precision(&self) -> usize {
        self.digits.len().max(self.scale as usize + 1)
    }

    /// Rounds half away from zero (MySQL's rule) or pads to exactly `scale` fractional digits.
    pub fn rescale(&self, scale: u8) -> Decimal {
        let mut digits = self.digits.clone();
        if scale >= self.scale {
            digits.extend(std::iter::repeat_n(0, (scale - self.scale) as usize));
            return Decimal::from_parts(self.negative, digits, scale);
        }
        let drop = (self.scale - scale) as usize;
        if drop > digits.len() {
            return Decimal::from_parts(false, Vec::new(), scale);
        }
        let round_up = digits[digits.len() - drop] >= 5;
        digits.truncate(digits.len() - drop);
        if round_up {
            let mut i = digits.len();
            loop {
                if i == 0 {
                    digits.insert(0, 1);
                    break;
                }
                i -= 1;
                if digits[i] == 9 {
                    digits[i] = 0;
                } else {
                    digits[i] += 1;
                    break;
                }
            }
        }
        Decimal::from_parts(self.negative, digits, scale)
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, ea) = self.normalized();
        let (b, eb) = other.normalized();
        let sign = |neg: bool, zero: bool| {
            if zero {
                0
            } else if neg {
                -1
            } else {
                1
            }
        };
        let (sa, sb) = (
            sign(self.negative, a.is_empty()),
            sign(other.negative, b.is_empty()),
        );
        if sa != sb || sa == 0 {
            return sa.cmp(&sb);
        }
        let magnitude = ea.cmp(&eb).then_with(|| a.cmp(b));
        if sa < 0 {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scale = self.scale as usize;
        let mut s = String::with_capacity(self.digits.len() + 3);
        if self.negative {
            s.push('-');
        }
        let int_len = self.digits.len().saturating_sub(scale);
        if int_len == 0 {
            s.push('0');
        }
        for &d in &self.digits[..int_len] {
            s.push((b'0' + d) as char);
        }
        if scale > 0 {
            s.push('.');
            for _ in self.digits.len()..scale {
                s.push('0');
            }
            for &d in &self.digits[int_len..] {
                s.push((b'0' + d) as char);
            }
        }
        f.write_str(&s)
    }
}

/// A calendar date and time of day, as DATE, DATETIME and TIMESTAMP hold them. Zero parts
/// are allowed (MySQL's `0000-00-00` exists outside strict mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DateTime {
    /// 0..=9999.
    pub year: u16,
    /// 0..=12.
    pub month: u8,
    /// 0..=31.
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=59.
    pub second: u8,
    /// 0..=999,999.
    pub micro: u32,
}

impl DateTime {
    /// The date as MySQL reads it as a number: YYYYMMDD.
    pub fn date_number(&self) -> i64 {
        self.year as i64 * 10_000 + self.month as i64 * 100 + self.day as i64
    }

    /// The date and time (whole seconds) as MySQL reads it as a number: YYYYMMDDhhmmss.
    pub fn datetime_number(&self) -> i64 {
        self.date_number() * 1_000_000
            + self.hour as i64 * 10_000
            + self.minute as i64 * 100
            + self.second as i64
    }

    /// Packs into an integer whose order is the chronological order (MySQL's packed layout:
    /// `((year*13+month)*32+day)*24+hour ... <<24 | micro`).
    pub fn pack(&self) -> i64 {
        let ym = self.year as i64 * 13 + self.month as i64;
        let ymd = (ym << 5) | self.day as i64;
        let hms = ((self.hour as i64) << 12) | ((self.minute as i64) << 6) | self.second as i64;
        (((ymd << 17) | hms) << 24) | self.micro as i64
    }

    /// Inverse of [`DateTime::pack`].
    pub fn unpack(v: i64) -> DateTime {
        let micro = (v & 0xFF_FFFF) as u32;
        let rest = v >> 24;
        let hms = rest & 0x1_FFFF;
        let ymd = rest >> 17;
        let ym = ymd >> 5;
        DateTime {
            year: (ym / 13) as u16,
            month: (ym % 13) as u8,
            day: (ymd & 31) as u8,
            hour: (hms >> 12) as u8,
            minute: ((hms >> 6) & 63) as u8,
            second: (hms & 63) as u8,
            micro,
        }
    }

    /// Whether the parts name a real calendar day (or MySQL's zero date) and time.
    pub fn is_valid(&self) -> bool {
        let zero_date = self.year == 0 && self.month == 0 && self.day == 0;
        let date_ok = zero_date
            || (self.year <= 9999
                && (1..=12).contains(&self.month)
                && self.day >= 1
                && self.day <= days_in_month(self.year, self.month));
        date_ok && self.hour < 24 && self.minute < 60 && self.second < 60 && self.micro < 1_000_000
    }

    /// Parses `YYYY-MM-DD[ hh:mm:ss[.ffffff]]` (also with `T` between date and time).
    pub fn parse(text: &str) -> Result<DateTime, ParseValueError> {
        let err = || ParseValueError {
            what: "DATETIME",
            text: text.to_string(),
        };
        let t = text.trim();
        let (date, time) = match t.find([' ', 'T']) {
            Some(p) => (&t[..p], Some(t[p + 1..].trim())),
            None => (t, None),
        };
        let mut dp = date
            .splitn(3, '-')
            .map(|p| p.parse::<u32>().map_err(|_| err()));
        let (year, month, day) = (
            dp.next().ok_or_else(err)??,
            dp.next().ok_or_else(err)??,
            dp.next().ok_or_else(err)??,
        );
        let mut dt = DateTime {
            year: u16::try_from(year).map_err(|_| err())?,
            month: u8::try_from(month).map_err(|_| err())?,
            day: u8::try_from(day).map_err(|_| err())?,
            ..DateTime::default()
        };
        if let Some(time) = time.filter(|t| !t.is_empty()) {
            let (hms, frac) = match time.find('.') {
                Some(p) => (&time[..p], &time[p + 1..]),
                None => (time, ""),
            };
            let mut tp = hms
                .splitn(3, ':')
                .map(|p| p.parse::<u8>().map_err(|_| err()));
            dt.hour = tp.next().ok_or_else(err)??;
            dt.minute = tp.next().unwrap_or(Ok(0))?;
            dt.second = tp.next().unwrap_or(Ok(0))?;
            if !frac.is_empty() {
                if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err());
                }
                let padded = format!("{frac:0<6}");
                dt.micro = padded.parse().map_err(|_| err())?;
            }
        }
        if !dt.is_valid() {
            return Err(err());
        }
        Ok(dt)
    }

    /// Formats as MySQL prints a DATE.
    pub fn date_string(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// Formats as MySQL prints a DATETIME with `fsp` fractional digits.
    pub fn datetime_string(&self, fsp: u8) -> String {
        let mut s = format!(
            "{} {:02}:{:02}:{:02}",
            self.date_string(),
            self.hour,
            self.minute,
            self.second
        );
        if fsp > 0 {
            let frac = format!("{:06}", self.micro);
            s.push('.');
            s.push_str(&frac[..fsp.min(6) as usize]);
        }
        s
    }
}

/// Days from 1970-01-01 to a civil date (proleptic Gregorian; Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day count from 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `days_from_civil(year, month, 0)` for every year and month a packed value can hold
/// (years 0..=9999, months 0..=12), indexed by `year * 13 + month` as the packed form is.
/// `days_from_civil` is linear in the day, so a date's day count is one lookup and an add:
/// an OLAP scan converts every DATE it reads to Arrow's days since 1970.
static MONTH_DAY_ZERO: LazyLock<Box<[i32]>> = LazyLock::new(|| {
    (0..=9999i64)
        .flat_map(|y| (0..13i64).map(move |m| days_from_civil(y, m, 0) as i32))
        .collect()
});

/// Day counts of packed temporal values, for converting a column of them: the table is
/// looked up once, not once per value.
#[derive(Clone, Copy)]
pub struct PackedDays(&'static [i32]);

impl PackedDays {
    /// The converter.
    pub fn new() -> PackedDays {
        PackedDays(&MONTH_DAY_ZERO)
    }

    /// [`DateTime::days`] of a [`DateTime::pack`]ed value, without unpacking the rest.
    pub fn days(self, v: i64) -> i64 {
        let ymd = v >> 41;
        match usize::try_from(ymd >> 5).ok().and_then(|ym| self.0.get(ym)) {
            Some(&zero) => zero as i64 + (ymd & 31),
            None => DateTime::unpack(v).days(),
        }
    }

    /// [`DateTime::unix_micros`] of a [`DateTime::pack`]ed value.
    pub fn unix_micros(self, v: i64) -> i64 {
        let hms = (v >> 24) & 0x1_FFFF;
        let secs = (hms >> 12) * 3600 + ((hms >> 6) & 63) * 60 + (hms & 63);
        (self.days(v) * 86_400 + secs) * 1_000_000 + (v & 0xFF_FFFF)
    }
}

impl fmt::Debug for PackedDays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PackedDays")
    }
}

impl Default for PackedDays {
    fn default() -> Self {
        PackedDays::new()
    }
}

impl DateTime {
    /// Days from 1970-01-01 to the date (`days_from_civil` of its parts).
    pub fn days(&self) -> i64 {
        let ym = self.year as usize * 13 + self.month as usize;
        match MONTH_DAY_ZERO.get(ym) {
            Some(&zero) => zero as i64 + self.day as i64,
            None => days_from_civil(self.year as i64, self.month as i64, self.day as i64),
        }
    }

    /// Microseconds since 1970-01-01 00:00:00 (the value read as UTC).
    pub fn unix_micros(&self) -> i64 {
        ((self.days() * 24 + self.hour as i64) * 60 + self.minute as i64) * 60_000_000
            + self.second as i64 * 1_000_000
            + self.micro as i64
    }

    /// The date and time `us` microseconds after 1970-01-01 00:00:00 (years clamped to
    /// 0..=9999).
    pub fn from_unix_micros(us: i64) -> DateTime {
        let (year, month, day) = civil_from_days(us.div_euclid(86_400_000_000));
        let rest = us.rem_euclid(86_400_000_000);
        let secs = rest / 1_000_000;
        DateTime {
            year: year.clamp(0, 9999) as u16,
            month,
            day,
            hour: (secs / 3600) as u8,
            minute: (secs / 60 % 60) as u8,
            second: (secs % 60) as u8,
            micro: (rest % 1_000_000) as u32,
        }
    }
}

/// Days in a month of the proleptic Gregorian calendar.
pub fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for z in [-800_000, -1, 0, 1, 59, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m as i64, d as i64), z, "{z}");
        }
    }

    #[test]
    fn packed_day_counts_match_the_civil_formula() {
        let dt = |year, month, day, hour, minute, second, micro| DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            micro,
        };
        let cases = [
            dt(0, 0, 0, 0, 0, 0, 0),
            dt(1970, 1, 1, 0, 0, 0, 0),
            dt(1992, 2, 29, 23, 59, 59, 999_999),
            dt(1998, 12, 1, 12, 30, 5, 17),
            dt(2000, 3, 1, 0, 0, 1, 0),
            dt(9999, 12, 31, 23, 59, 59, 999_999),
            dt(1, 1, 1, 0, 0, 0, 0),
        ];
        for d in cases {
            let want = days_from_civil(d.year as i64, d.month as i64, d.day as i64);
            assert_eq!(d.days(), want, "{d:?}");
            assert_eq!(PackedDays::new().days(d.pack()), want, "{d:?}");
            let micros = ((want * 24 + d.hour as i64) * 60 + d.minute as i64) * 60_000_000
                + d.second as i64 * 1_000_000
                + d.micro as i64;
            assert_eq!(d.unix_micros(), micros, "{d:?}");
            assert_eq!(PackedDays::new().unix_micros(d.pack()), micros, "{d:?}");
        }
        // Every day of four years, across a leap day and a century.
        for z in 10_900..12_400 {
            let (y, m, d) = civil_from_days(z);
            let v = dt(y as u16, m, d, 0, 0, 0, 0);
            assert_eq!(PackedDays::new().days(v.pack()), z);
        }
    }

    #[test]
    fn decimal_parse_print_and_order() {
        let d = |s: &str| Decimal::parse(s).unwrap();
        assert_eq!(d("1.50").to_string(), "1.50");
        assert_eq!(d("-0.05").to_string(), "-0.05");
        assert_eq!(d("-0").to_string(), "0");
        assert_eq!(d("1.5e2").to_string(), "150");
        assert_eq!(d("12.5e-3").to_string(), "0.0125");
        assert_eq!(d("1.5"), d("1.50"));
        assert!(d("-1.23") < d("-1.2"));
        assert!(d("0.001") < d("0.01"));
        assert!(d("-5") < d("0"));
        assert!(d("99") < d("100"));
        assert_eq!(d("1.005").rescale(2).to_string(), "1.01");
        assert_eq!(d("9.995").rescale(2).to_string(), "10.00");
        assert_eq!(d("-2.5").rescale(0).to_string(), "-3");
        let big = "9".repeat(65);
        assert_eq!(d(&big).to_string(), big);
        assert!(Decimal::parse("1.2.3").is_err());
        assert!(Decimal::parse("").is_err());
        assert!(Decimal::parse("abc").is_err());
    }

    #[test]
    fn datetime_packing_keeps_order() {
        let a = DateTime::parse("2024-02-29 23:59:59.999999").unwrap();
        let b = DateTime::parse("2024-03-01").unwrap();
        assert!(a.pack() < b.pack());
        assert_eq!(DateTime::unpack(a.pack()), a);
        assert_eq!(a.datetime_string(6), "2024-02-29 23:59:59.999999");
        assert_eq!(b.datetime_string(0), "2024-03-01 00:00:00");
        assert!(DateTime::parse("2023-02-29").is_err());
        assert!(DateTime::parse("2023-13-01").is_err());
        assert_eq!(DateTime::parse("0000-00-00").unwrap().pack(), 0);
    }
}
