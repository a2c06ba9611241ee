//! `mysql_native_password`: the server keeps `SHA1(SHA1(password))`; the client proves it
//! knows the password by sending `SHA1(password) XOR SHA1(scramble ++ SHA1(SHA1(password)))`.

use rand::Rng;
use sha1::{Digest, Sha1};

/// The scramble length.
pub const SCRAMBLE_BYTES: usize = 20;

/// What the server stores for a password: `SHA1(SHA1(password))`.
pub fn stage2(password: &[u8]) -> [u8; 20] {
    Sha1::digest(Sha1::digest(password)).into()
}

/// A fresh random scramble of printable bytes (never NUL, as clients expect).
pub fn scramble() -> [u8; SCRAMBLE_BYTES] {
    let mut rng = rand::rng();
    let mut s = [0u8; SCRAMBLE_BYTES];
    for b in &mut s {
        *b = rng.random_range(0x21..0x7F);
    }
    s
}

/// What a client sends for `password` and `scramble` (used by tests and the proxy).
pub fn client_token(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1: [u8; 20] = Sha1::digest(password).into();
    let mut h = Sha1::new();
    h.update(scramble);
    h.update(Sha1::digest(stage1));
    let mask: [u8; 20] = h.finalize().into();
    stage1.iter().zip(mask).map(|(a, b)| a ^ b).collect()
}

/// Checks a client's token against the stored stage-2 hash (`None`: empty password).
pub fn verify(stored: Option<&[u8; 20]>, scramble: &[u8], token: &[u8]) -> bool {
    match stored {
        None => token.is_empty(),
        Some(stage2) => {
            if token.len() != 20 {
                return false;
            }
            let mut h = Sha1::new();
            h.update(scramble);
            h.update(stage2);
            let mask: [u8; 20] = h.finalize().into();
            let stage1: Vec<u8> = token.iter().zip(mask).map(|(a, b)| a ^ b).collect();
            let check: [u8; 20] = Sha1::digest(&stage1).into();
            // Compare without an early exit.
            check
                .iter()
                .zip(stage2)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_password_passes_and_others_do_not() {
        let s = scramble();
        let stored = stage2(b"secret");
        assert!(verify(Some(&stored), &s, &client_token(b"secret", &s)));
        assert!(!verify(Some(&stored), &s, &client_token(b"Secret", &s)));
        assert!(!verify(Some(&stored), &s, &[]));
        assert!(verify(None, &s, &[]));
        assert!(!verify(None, &s, &client_token(b"x", &s)));
        assert!(s.iter().all(|b| *b != 0));
    }
}
