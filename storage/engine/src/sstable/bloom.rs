//! A bloom filter over the primary keys of one macroblock (double hashing over xxh3).

use xxhash_rust::xxh3::xxh3_64;

const PROBES: u32 = 7;

/// A built bloom filter.
#[derive(Debug, Clone)]
pub struct Bloom {
    bits: Vec<u8>,
    nbits: u64,
}

/// The hash a bloom filter is built from (computed once per key).
pub fn key_hash(key: &[u8]) -> u64 {
    xxh3_64(key)
}

impl Bloom {
    /// A filter over `hashes` at `bits_per_key`.
    pub fn build(hashes: &[u64], bits_per_key: usize) -> Bloom {
        let nbits = (hashes.len() * bits_per_key).max(64) as u64;
        let mut bits = vec![0u8; nbits.div_ceil(8) as usize];
        for &h in hashes {
            for bit in probes(h, nbits) {
                bits[(bit / 8) as usize] |= 1 << (bit % 8);
            }
        }
        Bloom { bits, nbits }
    }

    /// False only if the key is certainly absent.
    pub fn may_contain(&self, hash: u64) -> bool {
        probes(hash, self.nbits).all(|bit| self.bits[(bit / 8) as usize] & (1 << (bit % 8)) != 0)
    }

    /// Serialized form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.bits.len());
        out.extend_from_slice(&self.nbits.to_le_bytes());
        out.extend_from_slice(&self.bits);
        out
    }

    /// Parses [`Bloom::to_bytes`]; `None` if malformed.
    pub fn from_bytes(b: &[u8]) -> Option<Bloom> {
        let nbits = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
        let bits = b[8..].to_vec();
        (nbits > 0 && bits.len() as u64 == nbits.div_ceil(8)).then_some(Bloom { bits, nbits })
    }

    /// Memory held.
    pub fn mem_bytes(&self) -> usize {
        self.bits.len() + 16
    }
}

fn probes(h: u64, nbits: u64) -> impl Iterator<Item = u64> {
    let h1 = h;
    let h2 = h.rotate_left(32) | 1;
    (0..PROBES).map(move |i| h1.wrapping_add((i as u64).wrapping_mul(h2)) % nbits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let keys: Vec<u64> = (0..10_000u32).map(|i| key_hash(&i.to_be_bytes())).collect();
        let bloom = Bloom::from_bytes(&Bloom::build(&keys, 10).to_bytes()).unwrap();
        assert!(keys.iter().all(|&h| bloom.may_contain(h)));
        let fp = (10_000..110_000u32)
            .filter(|i| bloom.may_contain(key_hash(&i.to_be_bytes())))
            .count();
        assert!(fp < 2_000, "{fp} false positives in 100k");
    }
}
