//! The character sets a client may speak. ReefDB keeps all text as UTF-8; a client whose
//! `character_set_client` is latin1 has its statements decoded from latin1, and one whose
//! `character_set_results` is latin1 gets text results (and their column metadata)
//! encoded in latin1. MySQL's latin1 is Windows code page 1252, with the five bytes that
//! code page leaves undefined mapped to the C1 controls of the same number (MySQL 8.0
//! reference manual, "West European Character Sets"; its `strings/ctype-latin1.cc`).

use std::borrow::Cow;

/// A client character set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientCharset {
    /// utf8mb4 (and utf8mb3/utf8, whose text is a subset): no conversion.
    #[default]
    Utf8mb4,
    /// latin1 (cp1252); also ascii, its subset.
    Latin1,
    /// binary: bytes pass unconverted (`SET character_set_results = NULL` asks for this).
    Binary,
}

/// Code points of bytes 0x80..=0x9F in MySQL's latin1.
const CP1252_HIGH: [u16; 32] = [
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
    0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
];

fn latin1_char(b: u8) -> char {
    match b {
        0x80..=0x9F => char::from_u32(CP1252_HIGH[(b - 0x80) as usize] as u32).unwrap_or('?'),
        _ => b as char,
    }
}

fn latin1_byte(c: char) -> Option<u8> {
    let v = c as u32;
    match v {
        0..=0x7F | 0xA0..=0xFF => Some(v as u8),
        _ => CP1252_HIGH
            .iter()
            .position(|&p| p as u32 == v)
            .map(|i| 0x80 + i as u8),
    }
}

impl ClientCharset {
    /// The character set a `SET NAMES` / `character_set_*` name means (in any letter
    /// case); `None` if ReefDB does not speak it.
    pub fn from_name(name: &str) -> Option<ClientCharset> {
        let is = |names: &[&str]| names.iter().any(|n| n.eq_ignore_ascii_case(name));
        if is(&["utf8mb4", "utf8", "utf8mb3"]) {
            Some(ClientCharset::Utf8mb4)
        } else if is(&["latin1", "ascii"]) {
            Some(ClientCharset::Latin1)
        } else if is(&["binary"]) {
            Some(ClientCharset::Binary)
        } else {
            None
        }
    }

    /// The character set of a collation id a client sends in its handshake.
    pub fn from_collation_id(id: u8) -> ClientCharset {
        match id {
            // latin1_* collations, and ascii_general_ci / ascii_bin.
            5 | 8 | 15 | 31 | 47 | 48 | 49 | 94 | 11 | 65 => ClientCharset::Latin1,
            63 => ClientCharset::Binary,
            _ => ClientCharset::Utf8mb4,
        }
    }

    /// The name `@@character_set_*` shows.
    pub fn name(self) -> &'static str {
        match self {
            ClientCharset::Utf8mb4 => "utf8mb4",
            ClientCharset::Latin1 => "latin1",
            ClientCharset::Binary => "binary",
        }
    }

    /// The default collation's name (`@@collation_connection` after SET NAMES).
    pub fn collation_name(self) -> &'static str {
        match self {
            ClientCharset::Utf8mb4 => "utf8mb4_general_ci",
            ClientCharset::Latin1 => "latin1_swedish_ci",
            ClientCharset::Binary => "binary",
        }
    }

    /// The collation id text columns are described with to a client reading results in
    /// this set (`None`: as stored).
    pub fn result_collation_id(self) -> Option<u16> {
        match self {
            ClientCharset::Latin1 => Some(8),
            _ => None,
        }
    }

    /// Client text (a statement) as UTF-8. UTF-8 and binary text keep every byte (see
    /// [`crate::sqltext::decode`]); latin1 maps each byte to its character.
    pub fn decode(self, bytes: &[u8]) -> Cow<'_, str> {
        match self {
            ClientCharset::Latin1 if !bytes.is_ascii() => {
                Cow::Owned(bytes.iter().map(|&b| latin1_char(b)).collect())
            }
            _ => crate::sqltext::decode(bytes),
        }
    }

    /// A client's text value (a statement parameter) as UTF-8 bytes.
    pub fn decode_value(self, bytes: Vec<u8>) -> Vec<u8> {
        match self {
            ClientCharset::Latin1 if !bytes.is_ascii() => bytes
                .iter()
                .map(|&b| latin1_char(b))
                .collect::<String>()
                .into_bytes(),
            _ => bytes,
        }
    }

    /// Stored text (UTF-8) as this set encodes it; a character latin1 lacks becomes `?`,
    /// as MySQL converts it. Bytes that are not UTF-8 pass unchanged.
    pub fn encode(self, text: &[u8]) -> Cow<'_, [u8]> {
        match self {
            ClientCharset::Latin1 if !text.is_ascii() => match std::str::from_utf8(text) {
                Ok(s) => Cow::Owned(s.chars().map(|c| latin1_byte(c).unwrap_or(b'?')).collect()),
                Err(_) => Cow::Borrowed(text),
            },
            _ => Cow::Borrowed(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let text = ClientCharset::Latin1.decode(&all);
        assert_eq!(text.chars().count(), 256);
        assert_eq!(ClientCharset::Latin1.encode(text.as_bytes()), all);
        assert_eq!(ClientCharset::Latin1.decode(b"caf\xe9 \x80"), "café €");
    }

    #[test]
    fn what_latin1_lacks_becomes_a_question_mark() {
        assert_eq!(
            ClientCharset::Latin1
                .encode("naïve ✓ 日本".as_bytes())
                .as_ref(),
            b"na\xefve ? ??"
        );
        assert_eq!(
            ClientCharset::Utf8mb4.encode("✓".as_bytes()).as_ref(),
            "✓".as_bytes()
        );
        assert_eq!(ClientCharset::from_collation_id(8), ClientCharset::Latin1);
        assert_eq!(
            ClientCharset::from_collation_id(255),
            ClientCharset::Utf8mb4
        );
        assert_eq!(
            ClientCharset::from_name("UTF8"),
            Some(ClientCharset::Utf8mb4)
        );
        assert_eq!(ClientCharset::from_name("koi8r"), None);
        assert_eq!(ClientCharset::from_name(""), None);
    }
}
