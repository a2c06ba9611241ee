//! TPC-C's random values (TPC-C 5.11, clauses 2.1.6 and 4.3.2): uniform numbers, NURand,
//! a-strings and n-strings, customer last names, zip codes and the "ORIGINAL" data fields.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The run-time constants C of NURand (clause 2.1.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Constants {
    pub c_last: u32,
    pub c_id: u32,
    pub ol_i_id: u32,
}

impl Constants {
    /// Constants for the initial population.
    pub fn for_load(rng: &mut impl Rng) -> Constants {
        Constants {
            c_last: rng.random_range(0..=255),
            c_id: rng.random_range(0..=1023),
            ol_i_id: rng.random_range(0..=8191),
        }
    }

    /// Constants for a measured run: C for C_LAST differs from the load's by 65..=119 but
    /// neither 96 nor 112 (clause 2.1.6.1), the others are drawn afresh.
    pub fn for_run(load: Constants, rng: &mut impl Rng) -> Constants {
        let c_last = loop {
            let c: u32 = rng.random_range(0..=255);
            let delta = c.abs_diff(load.c_last);
            if (65..=119).contains(&delta) && delta != 96 && delta != 112 {
                break c;
            }
        };
        Constants {
            c_last,
            c_id: rng.random_range(0..=1023),
            ol_i_id: rng.random_range(0..=8191),
        }
    }
}

const SYLLABLES: [&str; 10] = [
    "BAR", "OUGHT", "ABLE", "PRI", "PRES", "ESE", "ANTI", "CALLY", "ATION", "EING",
];

/// The customer last name for a number in 0..=999 (clause 4.3.2.3).
pub fn last_name(num: u32) -> String {
    let mut s = String::with_capacity(15);
    s.push_str(SYLLABLES[(num / 100 % 10) as usize]);
    s.push_str(SYLLABLES[(num / 10 % 10) as usize]);
    s.push_str(SYLLABLES[(num % 10) as usize]);
    s
}

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// One terminal's or loader's source of TPC-C values.
#[derive(Debug)]
pub struct Gen {
    rng: StdRng,
    pub c: Constants,
}

impl Gen {
    pub fn new(seed: u64, c: Constants) -> Gen {
        Gen {
            rng: StdRng::seed_from_u64(seed),
            c,
        }
    }

    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// A uniform integer in `lo..=hi`.
    pub fn number(&mut self, lo: u32, hi: u32) -> u32 {
        self.rng.random_range(lo..=hi)
    }

    /// NURand(A, x, y) with this generator's C for that A (clause 2.1.6).
    pub fn nurand(&mut self, a: u32, x: u32, y: u32) -> u32 {
        let c = match a {
            255 => self.c.c_last,
            1023 => self.c.c_id,
            _ => self.c.ol_i_id,
        };
        ((self.number(0, a) | self.number(x, y)) + c) % (y - x + 1) + x
    }

    /// A random a-string of `lo..=hi` alphanumeric characters.
    pub fn a_string(&mut self, lo: usize, hi: usize) -> String {
        let len = self.rng.random_range(lo..=hi);
        (0..len)
            .map(|_| ALNUM[self.rng.random_range(0..ALNUM.len())] as char)
            .collect()
    }

    /// A random n-string of `lo..=hi` digits.
    pub fn n_string(&mut self, lo: usize, hi: usize) -> String {
        let len = self.rng.random_range(lo..=hi);
        (0..len)
            .map(|_| (b'0' + self.rng.random_range(0..10u8)) as char)
            .collect()
    }

    /// A zip code: four random digits and "11111" (clause 4.3.2.7).
    pub fn zip(&mut self) -> String {
        self.n_string(4, 4) + "11111"
    }

    /// I_DATA or S_DATA: an a-string of 26..=50 characters, one in ten holding "ORIGINAL"
    /// at a random position (clause 4.3.3.1).
    pub fn data_with_original(&mut self) -> String {
        let mut s = self.a_string(26, 50);
        if self.number(1, 10) == 1 {
            let at = self.rng.random_range(0..=s.len() - 8);
            s.replace_range(at..at + 8, "ORIGINAL");
        }
        s
    }

    /// A uniform decimal in `lo..=hi` hundredths (or other units) printed with `scale`
    /// fractional digits: `decimal(100, 10000, 2)` is 1.00..=100.00.
    pub fn decimal(&mut self, lo: u32, hi: u32, scale: u32) -> String {
        format_fixed(i64::from(self.number(lo, hi)), scale)
    }

    /// Whether a 1-in-`n` event happens.
    pub fn one_in(&mut self, n: u32) -> bool {
        self.number(1, n) == 1
    }
}

/// `units * 10^-scale` as decimal text: `format_fixed(-1050, 2)` is "-10.50".
pub fn format_fixed(units: i64, scale: u32) -> String {
    if scale == 0 {
        return units.to_string();
    }
    let p = 10i64.pow(scale);
    let sign = if units < 0 { "-" } else { "" };
    let a = units.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        a / p as u64,
        a % p as u64,
        width = scale as usize
    )
}

/// Decimal text as an exact count of `10^-scale` units: `parse_fixed("-10.5", 2)` is -1050.
/// Digits beyond `scale` are an error, not rounded away.
pub fn parse_fixed(text: &str, scale: u32) -> Option<i64> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > scale as usize || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    for i in 0..scale as usize {
        let d = frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
        v = v.checked_mul(10)?.checked_add(d)?;
    }
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_names_follow_the_syllable_table() {
        assert_eq!(last_name(0), "BARBARBAR");
        assert_eq!(last_name(371), "PRICALLYOUGHT");
        assert_eq!(last_name(999), "EINGEINGEING");
    }

    #[test]
    fn nurand_stays_in_range_and_is_skewed() {
        let mut g = Gen::new(7, Constants::for_load(&mut StdRng::seed_from_u64(1)));
        let mut hits = vec![0u32; 3001];
        for _ in 0..300_000 {
            let v = g.nurand(1023, 1, 3000);
            assert!((1..=3000).contains(&v));
            hits[v as usize] += 1;
        }
        let max = *hits.iter().max().unwrap();
        let min = *hits[1..].iter().min().unwrap();
        assert!(
            max > 3 * min.max(1),
            "NURand should not be uniform: {min}..{max}"
        );
    }

    #[test]
    fn run_constant_for_last_names_keeps_its_distance() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..1000 {
            let load = Constants::for_load(&mut rng);
            let run = Constants::for_run(load, &mut rng);
            let d = run.c_last.abs_diff(load.c_last);
            assert!((65..=119).contains(&d) && d != 96 && d != 112);
        }
    }

    #[test]
    fn original_appears_in_about_one_tenth_of_data() {
        let mut g = Gen::new(9, Constants::for_load(&mut StdRng::seed_from_u64(2)));
        let n = (0..10_000)
            .filter(|_| {
                let s = g.data_with_original();
                assert!((26..=50).contains(&s.len()));
                s.contains("ORIGINAL")
            })
            .count();
        assert!((800..1200).contains(&n), "{n}");
    }

    #[test]
    fn fixed_point_text_round_trips() {
        assert_eq!(format_fixed(-1050, 2), "-10.50");
        assert_eq!(format_fixed(5, 4), "0.0005");
        assert_eq!(format_fixed(30_000_000, 2), "300000.00");
        assert_eq!(parse_fixed("-10.50", 2), Some(-1050));
        assert_eq!(parse_fixed("12", 2), Some(1200));
        assert_eq!(parse_fixed("0.125", 2), None);
        assert_eq!(parse_fixed("x", 2), None);
    }
}
