//! SQL text arrives from clients as bytes. It is UTF-8 except where a client embeds raw
//! bytes in a string literal: mysqldump writes BLOB values that way (`'\0\xFF...'`), as do
//! applications that build binary literals by escaping. Decoding such text lossily would
//! change the stored value, so each byte that is not part of valid UTF-8 is carried through
//! the parser as one code point of the last Unicode private-use block (U+10FF00 + byte) and
//! turned back into that byte when the literal becomes a value.

use std::borrow::Cow;

const RAW_BASE: u32 = 0x10_FF00;

fn raw_byte(c: char) -> Option<u8> {
    let v = c as u32;
    (RAW_BASE..=RAW_BASE + 0xFF)
        .contains(&v)
        .then(|| (v - RAW_BASE) as u8)
}

/// Client SQL text as a string, every byte kept.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(bytes.len() + 16);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for &b in chunk.invalid() {
            out.push(char::from_u32(RAW_BASE + b as u32).expect("a valid code point"));
        }
    }
    Cow::Owned(out)
}

/// The bytes of a string literal that carried raw bytes, or `None` for ordinary text.
pub fn raw_bytes(literal: &str) -> Option<Vec<u8>> {
    if !literal.chars().any(|c| raw_byte(c).is_some()) {
        return None;
    }
    let mut out = Vec::with_capacity(literal.len());
    for c in literal.chars() {
        match raw_byte(c) {
            Some(b) => out.push(b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_bytes_survive_the_round_trip() {
        let sql = b"insert into t values ('\\0\xff\x10', '\xc3\xa9t\xc3')";
        let text = decode(sql);
        assert!(matches!(text, Cow::Owned(_)));
        let lit = text.split('\'').nth(3).unwrap();
        assert_eq!(raw_bytes(lit).unwrap(), b"\xc3\xa9t\xc3");
        let valid = decode("caf\u{e9}".as_bytes());
        assert!(matches!(valid, Cow::Borrowed(_)));
        assert_eq!(raw_bytes(&valid), None);
    }
}
