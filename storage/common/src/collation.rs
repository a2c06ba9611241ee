//! Collations: how character strings compare, group and sort. ReefDB's default is
//! `utf8mb4_general_ci` (case- and accent-insensitive, PAD SPACE), as in OceanBase and
//! MariaDB; `utf8mb4_bin` compares code points (PAD SPACE); `binary` compares bytes.
//!
//! Weights for `utf8mb4_general_ci` follow MySQL's `my_unicase_default` table: one 16-bit
//! weight per character, Latin-1 letters folded to their unaccented upper case, characters
//! outside the Basic Multilingual Plane all weighing U+FFFD. Outside Latin-1 ReefDB derives
//! the weight from the character's canonical decomposition (base letter, upper-cased),
//! which is how that table folds the accented Latin, Greek and Cyrillic letters.
//!
//! Sort keys are memcomparable: comparing two keys' bytes gives the collation's order, and
//! equal strings (`'a'` and `'A  '` under general_ci) give equal keys. PAD SPACE is kept with
//! MyRocks' segment scheme: weights go out in segments of [`SEGMENT_WEIGHTS`], the last one
//! padded with spaces, each followed by a marker telling whether the rest of the string sorts
//! below spaces, is the end, or sorts above spaces.

use std::cmp::Ordering;
use unicode_normalization::char::decompose_canonical;

/// A collation of a character or binary string column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Collation {
    /// Case- and accent-insensitive, PAD SPACE (MySQL id 45). The default.
    #[default]
    Utf8mb4GeneralCi,
    /// Code point order, PAD SPACE (MySQL id 46).
    Utf8mb4Bin,
    /// Byte order, no padding (MySQL id 63): binary strings.
    Binary,
}

/// Weights per segment in a sort key.
pub const SEGMENT_WEIGHTS: usize = 8;
const MARK_BELOW_SPACE: u8 = 1;
const MARK_END: u8 = 2;
const MARK_ABOVE_SPACE: u8 = 3;

impl Collation {
    /// MySQL's collation id, as sent in column metadata.
    pub fn mysql_id(self) -> u16 {
        match self {
            Collation::Utf8mb4GeneralCi => 45,
            Collation::Utf8mb4Bin => 46,
            Collation::Binary => 63,
        }
    }

    /// The collation with MySQL name `name` (case-insensitive), if ReefDB has it.
    pub fn by_name(name: &str) -> Option<Collation> {
        match name.to_ascii_lowercase().as_str() {
            "utf8mb4_general_ci" | "utf8_general_ci" | "utf8mb3_general_ci" => {
                Some(Collation::Utf8mb4GeneralCi)
            }
            "utf8mb4_bin" | "utf8_bin" | "utf8mb3_bin" => Some(Collation::Utf8mb4Bin),
            "binary" => Some(Collation::Binary),
            _ => None,
        }
    }

    /// MySQL's name for this collation.
    pub fn name(self) -> &'static str {
        match self {
            Collation::Utf8mb4GeneralCi => "utf8mb4_general_ci",
            Collation::Utf8mb4Bin => "utf8mb4_bin",
            Collation::Binary => "binary",
        }
    }

    /// Compares two strings under this collation.
    pub fn compare(self, a: &[u8], b: &[u8]) -> Ordering {
        match self {
            Collation::Binary => a.cmp(b),
            Collation::Utf8mb4Bin => pad_compare(a.iter().copied(), b.iter().copied(), b' '),
            Collation::Utf8mb4GeneralCi => pad_compare(weights(a), weights(b), 0x20),
        }
    }

    /// Appends the memcomparable sort key of `s` to `out`. Not reversible for
    /// case-insensitive collations: the row keeps the original value.
    pub fn sort_key_into(self, s: &[u8], out: &mut Vec<u8>) {
        match self {
            Collation::Binary => escape_bytes_into(s, out),
            Collation::Utf8mb4Bin => {
                let trimmed = trim_trailing_spaces(s);
                segments_into(trimmed, b" ", out)
            }
            Collation::Utf8mb4GeneralCi => {
                if s.is_ascii() {
                    return ascii_general_ci_segments_into(trim_trailing_spaces(s), out);
                }
                let mut w: Vec<u8> = Vec::with_capacity(s.len() * 2);
                for weight in weights(s) {
                    w.extend_from_slice(&weight.to_be_bytes());
                }
                while w.ends_with(&[0x00, 0x20]) {
                    w.truncate(w.len() - 2);
                }
                segments_into(&w, &[0x00, 0x20], out)
            }
        }
    }
}

impl Collation {
    /// Appends the equality key of `s` to `out`: two strings the collation calls equal
    /// get equal keys and no others do, but keys do not sort as the strings do. Cheaper
    /// than [`Collation::sort_key_into`] (no segments), for grouping, hashing and `=`:
    ///
    /// - `utf8mb4_general_ci`: the weights without trailing space weights, each written
    ///   as the UTF-8 of the character with that code (a weight is a BMP character, never
    ///   a surrogate), so an ASCII string's key is its letters in capitals;
    /// - `utf8mb4_bin`: the bytes without trailing spaces;
    /// - `binary`: the bytes.
    pub fn eq_key_into(self, s: &[u8], out: &mut Vec<u8>) {
        match self {
            Collation::Binary => out.extend_from_slice(s),
            Collation::Utf8mb4Bin => out.extend_from_slice(trim_trailing_spaces(s)),
            Collation::Utf8mb4GeneralCi => {
                if s.is_ascii() {
                    // An ASCII character's weight is ASCII, and a space weighs as itself.
                    let trimmed = trim_trailing_spaces(s);
                    out.extend(trimmed.iter().map(|&b| ASCII_WEIGHTS[b as usize]));
                    return;
                }
                let start = out.len();
                let mut kept = start;
                for w in weights(s) {
                    let c = char::from_u32(u32::from(w)).unwrap_or(char::REPLACEMENT_CHARACTER);
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    if w != 0x20 {
                        kept = out.len();
                    }
                }
                out.truncate(kept);
            }
        }
    }

    /// Whether `s`'s equality key is one of `keys` (each one [`Collation::eq_key_into`]
    /// wrote): for an ASCII string under general_ci, compared character by character
    /// without writing the key; otherwise written into `scratch` and compared.
    pub fn eq_key_in(self, s: &[u8], keys: &[Vec<u8>], scratch: &mut Vec<u8>) -> bool {
        if self == Collation::Utf8mb4GeneralCi && s.is_ascii() {
            return ascii_general_ci_eq_key_in(s, keys);
        }
        scratch.clear();
        self.eq_key_into(s, scratch);
        keys.iter().any(|key| scratch == key)
    }
}

/// [`Collation::eq_key_in`] under general_ci for a string its caller knows to be ASCII (a
/// whole column checked at once); for other bytes the answer means nothing.
pub fn ascii_general_ci_eq_key_in(s: &[u8], keys: &[Vec<u8>]) -> bool {
    let t = trim_trailing_spaces(s);
    keys.iter().any(|key| {
        t.len() == key.len()
            && t.iter()
                .zip(key)
                .all(|(&b, &k)| ASCII_WEIGHTS[usize::from(b & 0x7F)] == k)
    })
}

/// Whether every byte of `bytes` is ASCII that weighs as itself under general_ci (no
/// letter that folds to its capital): such a string without trailing spaces is its own
/// equality key ([`Collation::eq_key_into`]).
pub fn ascii_weighs_as_itself(bytes: &[u8]) -> bool {
    // In ASCII only the lower-case letters fold (asserted where `ASCII_WEIGHTS` is built,
    // when compiling). Written without a table lookup and in
    // chunks, so the check of a chunk vectorizes and a folding byte ends it early.
    bytes.chunks(64).all(|chunk| {
        !chunk.iter().fold(false, |bad, &b| {
            bad | (b >= 0x80) | (b.wrapping_sub(b'a') < 26)
        })
    })
}

impl Collation {
    /// The length of the sort key [`Collation::sort_key_into`] wrote at the start of `key`.
    pub fn sort_key_len(self, key: &[u8]) -> Option<usize> {
        let seg = match self {
            Collation::Binary => {
                let mut pos = 0;
                loop {
                    match (key.get(pos)?, key.get(pos + 1)) {
                        (0x00, Some(0x01)) => return Some(pos + 2),
                        (0x00, Some(0xFF)) => pos += 2,
                        (0x00, _) => return None,
                        _ => pos += 1,
                    }
                }
            }
            Collation::Utf8mb4Bin => SEGMENT_WEIGHTS,
            Collation::Utf8mb4GeneralCi => SEGMENT_WEIGHTS * 2,
        };
        let mut pos = 0;
        loop {
            match *key.get(pos + seg)? {
                MARK_END => return Some(pos + seg + 1),
                MARK_BELOW_SPACE | MARK_ABOVE_SPACE => pos += seg + 1,
                _ => return None,
            }
        }
    }
}

fn trim_trailing_spaces(s: &[u8]) -> &[u8] {
    let end = s.iter().rposition(|&b| b != b' ').map_or(0, |p| p + 1);
    &s[..end]
}

/// PAD SPACE comparison: the shorter sequence is compared as if padded with `space`.
fn pad_compare<T: Ord + Copy>(
    a: impl Iterator<Item = T>,
    b: impl Iterator<Item = T>,
    space: T,
) -> Ordering {
    let (mut a, mut b) = (a.fuse(), b.fuse());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (x, y) => {
                let ord = x.unwrap_or(space).cmp(&y.unwrap_or(space));
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// A segment's worth of space weights for each weight width: padding is one copy.
const SPACE_PAD_1: [u8; SEGMENT_WEIGHTS] = [b' '; SEGMENT_WEIGHTS];
const SPACE_PAD_2: [u8; 2 * SEGMENT_WEIGHTS] = {
    let mut pad = [0u8; 2 * SEGMENT_WEIGHTS];
    let mut i = 1;
    while i < pad.len() {
        pad[i] = 0x20;
        i += 2;
    }
    pad
};

/// Writes `w` (already without trailing space weights) in segments of `SEGMENT_WEIGHTS`
/// weights of `space.len()` bytes each.
fn segments_into(w: &[u8], space: &[u8], out: &mut Vec<u8>) {
    let seg_bytes = SEGMENT_WEIGHTS * space.len();
    let pad: &[u8] = if space.len() == 1 {
        &SPACE_PAD_1
    } else {
        &SPACE_PAD_2
    };
    debug_assert_eq!(&pad[..space.len()], space);
    out.reserve(w.len() + seg_bytes + w.len() / seg_bytes + 1);
    let mut pos = 0;
    loop {
        let end = (pos + seg_bytes).min(w.len());
        out.extend_from_slice(&w[pos..end]);
        if end == w.len() {
            out.extend_from_slice(&pad[..seg_bytes - (end - pos)]);
            out.push(MARK_END);
            return;
        }
        // The rest is not all spaces (they were trimmed): find its first other weight.
        let rest = &w[end..];
        let first_other = rest
            .chunks(space.len())
            .find(|c| *c != space)
            .expect("trailing spaces were trimmed");
        out.push(if first_other < space {
            MARK_BELOW_SPACE
        } else {
            MARK_ABOVE_SPACE
        });
        pos = end;
    }
}

/// [`segments_into`] for the general_ci weights of the ASCII string `s` (without trailing
/// spaces), written straight into `out`: one table lookup per byte (as `general_ci_weight`
/// does for U+0000..U+00FF), no buffer of weights in between. Sorting rows by a long ASCII
/// column (sysbench's `ORDER BY c` over `CHAR(120)`) computes one such key per row.
fn ascii_general_ci_segments_into(s: &[u8], out: &mut Vec<u8>) {
    let weight = |b: u8| LATIN1_WEIGHTS[b as usize];
    out.reserve(2 * s.len() + 2 * SEGMENT_WEIGHTS + s.len() / SEGMENT_WEIGHTS + 1);
    let mut pos = 0;
    loop {
        let end = (pos + SEGMENT_WEIGHTS).min(s.len());
        for &b in &s[pos..end] {
            out.extend_from_slice(&weight(b).to_be_bytes());
        }
        if end == s.len() {
            out.extend_from_slice(&SPACE_PAD_2[..2 * (SEGMENT_WEIGHTS - (end - pos))]);
            out.push(MARK_END);
            return;
        }
        // The rest is not all spaces (they were trimmed): find its first other weight.
        let first_other = s[end..]
            .iter()
            .map(|&b| weight(b))
            .find(|&w| w != 0x20)
            .expect("trailing spaces were trimmed");
        out.push(if first_other < 0x20 {
            MARK_BELOW_SPACE
        } else {
            MARK_ABOVE_SPACE
        });
        pos = end;
    }
}

/// Prefix-free, order-preserving encoding of raw bytes: 0x00 becomes 0x00 0xFF and the end is
/// 0x00 0x01.
pub fn escape_bytes_into(s: &[u8], out: &mut Vec<u8>) {
    for &b in s {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

/// The `utf8mb4_general_ci` weights of a UTF-8 string. Invalid UTF-8 (which validated
/// columns never hold) weighs as U+FFFD per bad byte sequence.
fn weights(s: &[u8]) -> Weights<'_> {
    match std::str::from_utf8(s) {
        Ok(text) => Weights::Valid(text.chars()),
        Err(_) => Weights::Lossy(
            String::from_utf8_lossy(s)
                .chars()
                .map(general_ci_weight)
                .collect::<Vec<_>>()
                .into_iter(),
        ),
    }
}

/// The weights of a string, without allocating for valid UTF-8 (the hot path of ORDER BY,
/// DISTINCT and comparisons).
enum Weights<'a> {
    Valid(std::str::Chars<'a>),
    Lossy(std::vec::IntoIter<u16>),
}

impl Iterator for Weights<'_> {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        match self {
            Weights::Valid(c) => c.next().map(general_ci_weight),
            Weights::Lossy(w) => w.next(),
        }
    }
}

/// The `utf8mb4_general_ci` weight of one character.
pub fn general_ci_weight(c: char) -> u16 {
    let cp = c as u32;
    if cp > 0xFFFF {
        return 0xFFFD;
    }
    if cp <= 0xFF {
        return LATIN1_WEIGHTS[cp as usize];
    }
    let mut base = c;
    decompose_canonical(c, |d| {
        if base == c {
            base = d;
        }
    });
    let mut upper = base.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) if (u as u32) <= 0xFFFF => {
            if (u as u32) <= 0xFF {
                LATIN1_WEIGHTS[u as usize]
            } else {
                u as u16
            }
        }
        _ => base as u16,
    }
}

/// Weights of U+0000..U+00FF in `utf8mb4_general_ci` (MySQL's `plane00`).
static LATIN1_WEIGHTS: [u16; 256] = latin1_weights();

/// The `utf8mb4_general_ci` weight of each ASCII character, itself ASCII (letters weigh as
/// their capitals, and nothing else folds; checked when compiling), so an ASCII string's
/// weights are one byte each.
pub static ASCII_WEIGHTS: [u8; 128] = {
    let latin1 = latin1_weights();
    let mut w = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        assert!(latin1[i] < 128, "an ASCII character weighs outside ASCII");
        // `ascii_weighs_as_itself` relies on this: only the lower-case letters fold.
        let folds = i >= b'a' as usize && i <= b'z' as usize;
        assert!(
            (latin1[i] as usize != i) == folds,
            "an ASCII character other than a-z folds"
        );
        w[i] = latin1[i] as u8;
        i += 1;
    }
    w
};

const fn latin1_weights() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as u16;
        i += 1;
    }
    let mut c = b'a';
    while c <= b'z' {
        t[c as usize] = (c - 32) as u16;
        c += 1;
    }
    t[0xB5] = 0x039C; // micro sign sorts as Greek capital MU
    let folds: [(u8, u8, u16); 20] = [
        (0xC0, 0xC5, b'A' as u16),
        (0xC7, 0xC7, b'C' as u16),
        (0xC8, 0xCB, b'E' as u16),
        (0xCC, 0xCF, b'I' as u16),
        (0xD1, 0xD1, b'N' as u16),
        (0xD2, 0xD6, b'O' as u16),
        (0xD9, 0xDC, b'U' as u16),
        (0xDD, 0xDD, b'Y' as u16),
        (0xDF, 0xDF, b'S' as u16),
        (0xE0, 0xE5, b'A' as u16),
        (0xE6, 0xE6, 0xC6),
        (0xE7, 0xE7, b'C' as u16),
        (0xE8, 0xEB, b'E' as u16),
        (0xEC, 0xEF, b'I' as u16),
        (0xF0, 0xF0, 0xD0),
        (0xF1, 0xF1, b'N' as u16),
        (0xF2, 0xF6, b'O' as u16),
        (0xF8, 0xF8, 0xD8),
        (0xF9, 0xFC, b'U' as u16),
        (0xFD, 0xFF, b'Y' as u16),
    ];
    let mut f = 0;
    while f < folds.len() {
        let (lo, hi, w) = folds[f];
        let mut c = lo as usize;
        while c <= hi as usize {
            t[c] = w;
            c += 1;
        }
        f += 1;
    }
    t[0xFE] = 0xDE; // thorn
    t
}

#[cfg(test)]
mod tests {
    /// A string of bytes that weigh as themselves, without trailing spaces, is its own
    /// equality key; any other ASCII byte changes the key.
    #[test]
    fn bytes_that_weigh_as_themselves_are_their_own_equality_key() {
        for b in 0u8..0x80 {
            if b == b' ' {
                continue;
            }
            let s = [b'Q', b];
            let mut key = Vec::new();
            Collation::Utf8mb4GeneralCi.eq_key_into(&s, &mut key);
            assert_eq!(ascii_weighs_as_itself(&s), key == s, "byte {b:#x}");
        }
        assert!(!ascii_weighs_as_itself("É".as_bytes()));
        assert!(ascii_weighs_as_itself(b"DELIVER IN PERSON"));
        assert!(!ascii_weighs_as_itself(b"Customer#1"));
    }

    use super::*;
    use proptest::prelude::*;

    fn key(c: Collation, s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        c.sort_key_into(s.as_bytes(), &mut out);
        out
    }

    #[test]
    fn general_ci_folds_case_accents_and_trailing_spaces() {
        let ci = Collation::Utf8mb4GeneralCi;
        assert_eq!(ci.compare(b"abc", b"ABC  "), Ordering::Equal);
        assert_eq!(ci.compare("caf\u{e9}".as_bytes(), b"CAFE"), Ordering::Equal);
        assert_eq!(
            ci.compare("stra\u{df}e".as_bytes(), b"strase"),
            Ordering::Equal
        );
        assert_eq!(key(ci, "abc"), key(ci, "ABC  "));
        assert_eq!(key(ci, "\u{100}"), key(ci, "a"));
        assert!(key(ci, "a") < key(ci, "b"));
    }

    #[test]
    fn pad_space_orders_control_characters_below_the_end() {
        for c in [Collation::Utf8mb4Bin, Collation::Utf8mb4GeneralCi] {
            // 'a\t' < 'a' because 'a' compares as 'a ' and TAB < SPACE.
            assert_eq!(c.compare(b"a\t", b"a"), Ordering::Less);
            assert!(key(c, "a\t") < key(c, "a"));
            assert!(key(c, "a \t") < key(c, "a"));
            assert!(key(c, "a  b") < key(c, "a b"));
            assert!(key(c, "aaaaaaaa\t") < key(c, "aaaaaaaa"));
            assert!(key(c, "aaaaaaaab") > key(c, "aaaaaaaa"));
        }
    }

    #[test]
    fn binary_has_no_padding() {
        let b = Collation::Binary;
        assert_eq!(b.compare(b"a", b"a "), Ordering::Less);
        assert!(key(b, "a") < key(b, "a "));
        assert!(key(b, "a") < key(b, "a\0"));
    }

    fn small_string() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just('a'),
                Just('A'),
                Just('b'),
                Just(' '),
                Just('\t'),
                Just('\0'),
                Just('\u{e9}'),
                Just('E'),
                Just('\u{1F600}'),
                Just('z'),
            ],
            0..20,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn sort_keys_agree_with_compare(a in small_string(), b in small_string()) {
            for c in [Collation::Utf8mb4GeneralCi, Collation::Utf8mb4Bin, Collation::Binary] {
                let want = c.compare(a.as_bytes(), b.as_bytes());
                let got = key(c, &a).cmp(&key(c, &b));
                prop_assert_eq!(got, want, "{:?} {:?} {:?}", c, a, b);
            }
        }

        #[test]
        fn ascii_general_ci_keys_agree_with_compare(a in "[\\x00-\\x7f]{0,80}", b in "[\\x00-\\x7f]{0,80}") {
            let c = Collation::Utf8mb4GeneralCi;
            let got = key(c, &a).cmp(&key(c, &b));
            prop_assert_eq!(got, c.compare(a.as_bytes(), b.as_bytes()), "{:?} {:?}", a, b);
        }

        #[test]
        fn ascii_general_ci_keys_are_the_weights_in_segments(a in "[\\x00-\\x7f]{0,200}") {
            let mut w = Vec::new();
            for weight in weights(a.as_bytes()) {
                w.extend_from_slice(&weight.to_be_bytes());
            }
            while w.ends_with(&[0x00, 0x20]) {
                w.truncate(w.len() - 2);
            }
            let mut want = Vec::new();
            segments_into(&w, &[0x00, 0x20], &mut want);
            prop_assert_eq!(key(Collation::Utf8mb4GeneralCi, &a), want, "{:?}", a);
        }

        #[test]
        fn eq_keys_are_equal_exactly_when_the_strings_compare_equal(
            a in small_string(),
            b in small_string(),
        ) {
            for c in [Collation::Utf8mb4GeneralCi, Collation::Utf8mb4Bin, Collation::Binary] {
                let want = c.compare(a.as_bytes(), b.as_bytes()) == Ordering::Equal;
                let (mut ka, mut kb) = (Vec::new(), Vec::new());
                c.eq_key_into(a.as_bytes(), &mut ka);
                c.eq_key_into(b.as_bytes(), &mut kb);
                prop_assert_eq!(ka == kb, want, "{:?} {:?} {:?}", c, a, b);
                prop_assert_eq!(c.eq_key_in(a.as_bytes(), &[kb.clone()], &mut Vec::new()), want);
            }
        }
    }

    #[test]
    fn eq_keys_of_ascii_and_accented_strings_meet() {
        let ci = Collation::Utf8mb4GeneralCi;
        let k = |s: &str| {
            let mut out = Vec::new();
            ci.eq_key_into(s.as_bytes(), &mut out);
            out
        };
        assert_eq!(k("Ete  "), b"ETE");
        assert_eq!(k("été"), k("ETE"));
        assert_ne!(k("ete\t"), k("ete"));
        assert_eq!(k(""), k("   "));
    }
}
