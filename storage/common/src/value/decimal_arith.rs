//! Exact DECIMAL arithmetic with MySQL's result scales (MySQL 8.0 reference manual,
//! "Precision Math" and "Arithmetic Operators"): a sum or difference keeps the larger
//! scale, a product the sum of the scales, a quotient the dividend's scale plus
//! `div_precision_increment`, all capped at 30 fractional digits (rounding half away from
//! zero). Intermediate results may hold 81 digits (MySQL's nine 9-digit words); a column
//! takes at most 65, which its store checks. Coefficients are decimal digit vectors, as `Decimal` keeps
//! them, so nothing is limited to 38 digits.

use std::cmp::Ordering;

use super::{Decimal, DECIMAL_SCALE_MAX};

/// Most digits an intermediate result holds.
const WORKING_DIGITS: usize = 81;

/// Compares two magnitudes given most significant digit first, leading zeros allowed.
fn cmp_mag(a: &[u8], b: &[u8]) -> Ordering {
    let a = strip(a);
    let b = strip(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn strip(a: &[u8]) -> &[u8] {
    let lead = a.iter().position(|&d| d != 0).unwrap_or(a.len());
    &a[lead..]
}

fn add_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let n = a.len().max(b.len()) + 1;
    let mut out = vec![0u8; n];
    let mut carry = 0;
    for i in 0..n {
        let x = if i < a.len() { a[a.len() - 1 - i] } else { 0 };
        let y = if i < b.len() { b[b.len() - 1 - i] } else { 0 };
        let s = x + y + carry;
        out[n - 1 - i] = s % 10;
        carry = s / 10;
    }
    out
}

/// `a - b` for `a >= b`.
fn sub_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = a.to_vec();
    let mut borrow = 0i8;
    for i in 0..out.len() {
        let y = if i < b.len() {
            b[b.len() - 1 - i] as i8
        } else {
            0
        };
        let idx = out.len() - 1 - i;
        let mut d = out[idx] as i8 - y - borrow;
        borrow = 0;
        if d < 0 {
            d += 10;
            borrow = 1;
        }
        out[idx] = d as u8;
    }
    out
}

fn mul_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut acc = vec![0u32; a.len() + b.len()];
    for (i, &x) in a.iter().rev().enumerate() {
        for (j, &y) in b.iter().rev().enumerate() {
            acc[i + j] += u32::from(x) * u32::from(y);
        }
    }
    let mut carry = 0;
    for v in acc.iter_mut() {
        let s = *v + carry;
        *v = s % 10;
        carry = s / 10;
    }
    acc.iter().rev().map(|&d| d as u8).collect()
}

/// Integer division of magnitudes: the quotient's digits (remainder dropped).
fn div_mag(n: &[u8], d: &[u8]) -> Vec<u8> {
    let d = strip(d);
    let mut q = Vec::with_capacity(n.len());
    let mut r: Vec<u8> = Vec::with_capacity(d.len() + 1);
    for &digit in n {
        r.push(digit);
        let mut count = 0;
        while cmp_mag(&r, d) != Ordering::Less {
            r = sub_mag(&r, d);
            count += 1;
        }
        let lead = r.iter().position(|&x| x != 0).unwrap_or(r.len());
        r.drain(..lead);
        q.push(count);
    }
    q
}

impl Decimal {
    /// The coefficient with `scale` fractional digits (`scale >= self.scale`).
    fn coefficient_at(&self, scale: u8) -> Vec<u8> {
        let mut d = self.digits.clone();
        d.extend(std::iter::repeat_n(0, (scale - self.scale) as usize));
        d
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// A result: rounded to 30 fractional digits at most, `None` past 81 digits.
    fn bounded(negative: bool, digits: Vec<u8>, scale: u8) -> Option<Decimal> {
        let mut d = Decimal::from_parts(negative, digits, scale);
        if d.scale > DECIMAL_SCALE_MAX {
            d = d.rescale(DECIMAL_SCALE_MAX);
        }
        (d.digits.len() <= WORKING_DIGITS).then_some(d)
    }

    fn plus(&self, o: &Decimal, o_negative: bool) -> Option<Decimal> {
        let scale = self.scale.max(o.scale);
        let (a, b) = (self.coefficient_at(scale), o.coefficient_at(scale));
        let (negative, digits) = if self.negative == o_negative {
            (self.negative, add_mag(&a, &b))
        } else if cmp_mag(&a, &b) == Ordering::Less {
            (o_negative, sub_mag(&b, &a))
        } else {
            (self.negative, sub_mag(&a, &b))
        };
        Decimal::bounded(negative, digits, scale)
    }

    /// `self + o`; `None` when the sum does not fit a DECIMAL.
    pub fn checked_add(&self, o: &Decimal) -> Option<Decimal> {
        self.plus(o, o.negative)
    }

    /// `self - o`; `None` when the difference does not fit a DECIMAL.
    pub fn checked_sub(&self, o: &Decimal) -> Option<Decimal> {
        self.plus(o, !o.negative)
    }

    /// `self * o`; `None` when the product does not fit a DECIMAL.
    pub fn checked_mul(&self, o: &Decimal) -> Option<Decimal> {
        let scale = u16::from(self.scale) + u16::from(o.scale);
        let digits = mul_mag(&self.digits, &o.digits);
        // Rescale through the wider type before the u8 scale can overflow.
        let drop = scale.saturating_sub(u16::from(DECIMAL_SCALE_MAX)) as usize;
        let d = if drop == 0 {
            Decimal::from_parts(self.negative != o.negative, digits, scale as u8)
        } else {
            let keep = digits.len().saturating_sub(drop.saturating_sub(1));
            let widened = Decimal::from_parts(
                self.negative != o.negative,
                digits[..keep].to_vec(),
                DECIMAL_SCALE_MAX + 1,
            );
            widened.rescale(DECIMAL_SCALE_MAX)
        };
        Decimal::bounded(d.negative, d.digits, d.scale)
    }

    /// `self / o` with `scale` fractional digits, rounded half away from zero; `None` when
    /// `o` is zero or the quotient does not fit a DECIMAL.
    pub fn checked_div(&self, o: &Decimal, scale: u8) -> Option<Decimal> {
        self.quotient(o, scale, true)
    }

    /// `self / o` as MySQL keeps it inside an expression: truncated at the 9-digit group
    /// that holds `scale(self) + scale(o) + increment` fractional digits (at most 30). What
    /// the client sees is that rounded to `scale(self) + increment` (MySQL's
    /// `div_precision_increment`): `1/3*3` is 1.0000, not 0.9999.
    pub fn checked_div_inner(&self, o: &Decimal, increment: u8) -> Option<Decimal> {
        let wanted = u16::from(self.scale) + u16::from(o.scale) + u16::from(increment);
        let groups = wanted.div_ceil(9) * 9;
        self.quotient(o, groups.min(u16::from(DECIMAL_SCALE_MAX)) as u8, false)
    }

    fn quotient(&self, o: &Decimal, scale: u8, round: bool) -> Option<Decimal> {
        if o.is_zero() {
            return None;
        }
        let scale = scale.min(DECIMAL_SCALE_MAX);
        // q = A·10^(scale + sb - sa) / B, with one more digit to round on.
        let k = i32::from(scale) + i32::from(o.scale) - i32::from(self.scale) + i32::from(round);
        let mut n = self.digits.clone();
        let mut d = o.digits.clone();
        if k >= 0 {
            n.extend(std::iter::repeat_n(0, k as usize));
        } else {
            d.extend(std::iter::repeat_n(0, (-k) as usize));
        }
        let q = div_mag(&n, &d);
        let negative = self.negative != o.negative;
        if !round {
            return Decimal::bounded(negative, q, scale);
        }
        let r = Decimal::from_parts(negative, q, scale + 1).rescale(scale);
        Decimal::bounded(r.negative, r.digits, r.scale)
    }

    /// The integer part of `self / o` (MySQL's `DIV`); `None` when `o` is zero.
    pub fn checked_div_trunc(&self, o: &Decimal) -> Option<Decimal> {
        self.quotient(o, 0, false)
    }

    /// `self MOD o`: the remainder of truncating division, with the dividend's sign and
    /// the larger scale; `None` when `o` is zero.
    pub fn checked_rem(&self, o: &Decimal) -> Option<Decimal> {
        let q = self.checked_div_trunc(o)?;
        let r = self.checked_sub(&q.checked_mul(o)?)?;
        Some(r.rescale(self.scale.max(o.scale)))
    }

    /// Cut toward zero (or padded) to `scale` fractional digits: TRUNCATE's rule.
    pub fn truncated(&self, scale: u8) -> Decimal {
        if scale >= self.scale {
            return self.rescale(scale);
        }
        let keep = self
            .digits
            .len()
            .saturating_sub((self.scale - scale) as usize);
        Decimal::from_parts(self.negative, self.digits[..keep].to_vec(), scale)
    }

    /// `-self`.
    pub fn negated(&self) -> Decimal {
        Decimal::from_parts(!self.negative, self.digits.clone(), self.scale)
    }

    /// The value as an integer if it has no fractional part and fits.
    pub fn to_i128_exact(&self) -> Option<i128> {
        let (sig, exp) = self.normalized();
        if sig.is_empty() {
            return Some(0);
        }
        if exp < sig.len() as i32 || exp > 38 {
            return None;
        }
        let mut v: i128 = 0;
        for i in 0..exp as usize {
            v = v * 10 + i128::from(sig.get(i).copied().unwrap_or(0));
        }
        Some(if self.negative { -v } else { v })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn sums_keep_the_larger_scale() {
        assert_eq!(
            d("300000.00")
                .checked_add(&d("1234.5"))
                .unwrap()
                .to_string(),
            "301234.50"
        );
        assert_eq!(
            d("-10.00").checked_add(&d("10")).unwrap().to_string(),
            "0.00"
        );
        assert_eq!(
            d("1.5").checked_sub(&d("2.25")).unwrap().to_string(),
            "-0.75"
        );
        assert_eq!(
            d("-1.5").checked_sub(&d("-2.25")).unwrap().to_string(),
            "0.75"
        );
        assert_eq!(
            d("99.99").checked_add(&d("0.01")).unwrap().to_string(),
            "100.00"
        );
        let big = "9".repeat(65);
        assert_eq!(
            d(&big).checked_add(&d("1")).unwrap().to_string(),
            format!("1{}", "0".repeat(65))
        );
        assert_eq!(
            d(&big).checked_sub(&d("1")).unwrap().to_string(),
            format!("{}8", "9".repeat(64))
        );
        assert!(d(&"9".repeat(81)).checked_add(&d("1")).is_none());
    }

    #[test]
    fn products_add_scales_and_cap_at_thirty() {
        assert_eq!(
            d("1.50").checked_mul(&d("-2.5")).unwrap().to_string(),
            "-3.750"
        );
        assert_eq!(
            d("7").checked_mul(&d("12.34")).unwrap().to_string(),
            "86.38"
        );
        let tiny = format!("0.{}1", "0".repeat(19)); // 1e-20
        let p = d(&tiny).checked_mul(&d(&tiny)).unwrap();
        assert_eq!(p.scale(), 30);
        assert!(p.is_zero());
        let p = d("0.000000000000000015")
            .checked_mul(&d("0.0000000000005"))
            .unwrap();
        assert_eq!(p.to_string(), format!("0.{}8", "0".repeat(29)));
        assert!(d(&"9".repeat(41))
            .checked_mul(&d(&"9".repeat(41)))
            .is_none());
    }

    #[test]
    fn quotients_round_half_away_from_zero() {
        assert_eq!(
            d("1").checked_div(&d("3"), 4).unwrap().to_string(),
            "0.3333"
        );
        assert_eq!(
            d("2").checked_div(&d("3"), 4).unwrap().to_string(),
            "0.6667"
        );
        assert_eq!(
            d("-2").checked_div(&d("3"), 4).unwrap().to_string(),
            "-0.6667"
        );
        assert_eq!(
            d("7").checked_div(&d("2"), 4).unwrap().to_string(),
            "3.5000"
        );
        assert_eq!(
            d("10.50").checked_div(&d("0.25"), 6).unwrap().to_string(),
            "42.000000"
        );
        assert_eq!(
            d("123456.789")
                .checked_div(&d("1000"), 7)
                .unwrap()
                .to_string(),
            "123.4567890"
        );
        assert!(d("1").checked_div(&d("0.00"), 4).is_none());
    }

    #[test]
    fn quotients_inside_expressions_keep_nine_digit_groups() {
        let q = |a: &str, b: &str| d(a).checked_div_inner(&d(b), 4).unwrap().to_string();
        assert_eq!(q("1", "3"), "0.333333333");
        assert_eq!(q("2", "3"), "0.666666666");
        assert_eq!(q("1.000", "3.000"), "0.333333333333333333");
        assert_eq!(q("1", "3.000"), "0.333333333");
        assert_eq!(q("-1.5", "7"), "-0.214285714");
        assert_eq!(q(&format!("1.{}", "0".repeat(20)), "3").len(), 2 + 27);
        assert_eq!(q(&format!("1.{}", "0".repeat(25)), "3").len(), 2 + 30);
    }

    #[test]
    fn truncating_division_and_remainder() {
        assert_eq!(
            d("7.5").checked_div_trunc(&d("2")).unwrap().to_string(),
            "3"
        );
        assert_eq!(
            d("-7.5").checked_div_trunc(&d("2")).unwrap().to_string(),
            "-3"
        );
        assert_eq!(d("7.5").checked_rem(&d("2")).unwrap().to_string(), "1.5");
        assert_eq!(d("-7.5").checked_rem(&d("2")).unwrap().to_string(), "-1.5");
        assert_eq!(d("10").checked_rem(&d("0.3")).unwrap().to_string(), "0.1");
        assert!(d("1").checked_rem(&d("0")).is_none());
    }

    #[test]
    fn truncation_cuts_toward_zero() {
        assert_eq!(d("-7.59").truncated(1).to_string(), "-7.5");
        assert_eq!(d("7.59").truncated(0).to_string(), "7");
        assert_eq!(d("0.05").truncated(1).to_string(), "0.0");
        assert_eq!(d("1.5").truncated(3).to_string(), "1.500");
    }

    #[test]
    fn negation() {
        assert_eq!(d("-10.01").negated().to_string(), "10.01");
        assert_eq!(d("2.50").negated().to_string(), "-2.50");
        assert_eq!(d("0.00").negated().to_string(), "0.00");
    }

    #[test]
    fn exact_integers() {
        assert_eq!(d("42.000").to_i128_exact(), Some(42));
        assert_eq!(d("-1200").to_i128_exact(), Some(-1200));
        assert_eq!(d("0.00").to_i128_exact(), Some(0));
        assert_eq!(d("4.2").to_i128_exact(), None);
    }
}
