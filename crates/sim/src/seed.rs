//! Deterministic pseudo-randomness: every random choice of the simulator is a hash of the run's
//! seed and of what is being chosen (device, tick, purpose), never a stateful generator.
//!
//! That makes each value independent of evaluation order: the same seed gives the same fleet,
//! the same traffic and the same attack schedule whether devices run concurrently, in another
//! order, or one tick is recomputed in a test.

/// SplitMix64's finalizer: a bijective, well-mixed 64-bit hash.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A hash of several parts, order-sensitive.
pub fn hash(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0x5EED_F1EE_7A7D_0001, |acc, p| mix(acc ^ mix(*p)))
}

/// A hash as a number in `[0, 1)`.
pub fn unit(h: u64) -> f64 {
    // The top 53 bits fit an f64 mantissa exactly.
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A hash as a number in `[-1, 1)`.
pub fn signed_unit(h: u64) -> f64 {
    unit(h) * 2.0 - 1.0
}

/// A hash as an integer in `lo..=hi` (`lo` when `hi < lo`).
pub fn range(h: u64, lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        return lo;
    }
    let span = hi - lo;
    if span == u64::MAX {
        return h;
    }
    lo + h % (span + 1)
}

/// Purposes, so that two choices about the same device and tick are independent.
pub mod purpose {
    /// Per-device traffic scale.
    pub const SCALE: u64 = 1;
    /// Per-device daily phase shift.
    pub const PHASE: u64 = 2;
    /// Bytes out noise.
    pub const BYTES_OUT: u64 = 3;
    /// Bytes in noise.
    pub const BYTES_IN: u64 = 4;
    /// Number of LAN peers connected.
    pub const PEERS: u64 = 5;
    /// Which LAN peers.
    pub const PEER_PICK: u64 = 6;
    /// Attack parameters.
    pub const ATTACK: u64 = 7;
    /// Attack schedule.
    pub const SCHEDULE: u64 = 8;
    /// Report send offset inside a tick.
    pub const OFFSET: u64 = 9;
    /// Port numbers of connections.
    pub const PORTS: u64 = 10;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_spread() {
        assert_eq!(hash(&[1, 2, 3]), hash(&[1, 2, 3]));
        assert_ne!(hash(&[1, 2, 3]), hash(&[3, 2, 1]));
        let mean = (0..10_000u64).map(|i| unit(hash(&[i]))).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        for i in 0..1000u64 {
            let u = unit(hash(&[i]));
            assert!((0.0..1.0).contains(&u));
            let s = signed_unit(hash(&[i]));
            assert!((-1.0..1.0).contains(&s));
            assert!((3..=7).contains(&range(hash(&[i]), 3, 7)));
        }
        assert_eq!(range(99, 5, 5), 5);
        assert_eq!(range(99, 5, 1), 5);
    }
}
