//! The one hash every demo value derives from: a splitmix64 mixer over
//! `(seed, tag, parts..)`, plus a small stream for drawing several values from one hash.
//!
//! Changing anything here changes every value the demo serves; the tests of the other
//! data modules pin behaviour, not bits, so that stays possible.

/// splitmix64's increment, the golden ratio in 64 bits.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// splitmix64's finaliser: every input bit flips about half the output bits.
const fn avalanche(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a of the tag, so each kind of value has its own independent hash family.
const fn tag_hash(tag: &str) -> u64 {
    let bytes = tag.as_bytes();
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
        i += 1;
    }
    h
}

/// The stable hash of `(seed, tag, parts)`. `tag` names what is being derived
/// (`"restaurant.name"`), `parts` the ids it belongs to.
pub(crate) fn mix(seed: u64, tag: &str, parts: &[u64]) -> u64 {
    let mut h = avalanche(seed.wrapping_add(GOLDEN) ^ avalanche(tag_hash(tag)));
    for &part in parts {
        h = avalanche(h.wrapping_add(GOLDEN) ^ avalanche(part.wrapping_add(GOLDEN)));
    }
    h
}

/// A value in `0..n` (0 when `n` is 0), unbiased enough for demo data.
pub(crate) fn below(h: u64, n: u64) -> u64 {
    ((u128::from(h) * u128::from(n)) >> 64) as u64
}

/// A value in `lo..=hi`.
pub(crate) fn between(h: u64, lo: u64, hi: u64) -> u64 {
    lo + below(h, hi.saturating_sub(lo) + 1)
}

/// A float in `[0, 1)`.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// One element of a non-empty list.
pub(crate) fn pick<T: Copy>(h: u64, items: &[T]) -> T {
    items[below(h, items.len() as u64) as usize]
}

/// A stream of hashes from one root, for values drawn in sequence (a menu's items).
#[derive(Debug, Clone)]
pub(crate) struct Stream(u64);

impl Stream {
    /// A stream rooted at `mix(seed, tag, parts)`.
    pub(crate) fn new(seed: u64, tag: &str, parts: &[u64]) -> Stream {
        Stream(mix(seed, tag, parts))
    }

    /// The next hash.
    pub(crate) fn next_hash(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        avalanche(self.0)
    }

    /// The next value in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        between(self.next_hash(), lo, hi)
    }

    /// The next element of a non-empty list.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        pick(self.next_hash(), items)
    }

    /// `true` with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        unit(self.next_hash()) < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_inputs_hash_the_same_and_any_change_differs() {
        let h = mix(42, "x", &[1, 2]);
        assert_eq!(h, mix(42, "x", &[1, 2]));
        assert_ne!(h, mix(43, "x", &[1, 2]));
        assert_ne!(h, mix(42, "y", &[1, 2]));
        assert_ne!(h, mix(42, "x", &[2, 1]));
        assert_ne!(h, mix(42, "x", &[1, 2, 0]));
    }

    #[test]
    fn ranges_hold() {
        let mut s = Stream::new(7, "t", &[]);
        for _ in 0..10_000 {
            let v = s.between(3, 9);
            assert!((3..=9).contains(&v));
            let u = unit(s.next_hash());
            assert!((0.0..1.0).contains(&u));
        }
        assert_eq!(below(u64::MAX, 0), 0);
    }
}
