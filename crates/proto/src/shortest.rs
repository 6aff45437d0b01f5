//! The shortest decimal digits that read back as a given `f64`, without tables.
//!
//! Burger and Dybvig's free-format algorithm ("Printing floating-point numbers quickly and
//! accurately", PLDI 1996; Steele and White's Dragon4 before it) on exact big integers. It costs
//! well under 1 KB of flash on a Cortex-M where ryu needs about 5 KB even with its `small`
//! tables, and it needs no `f64` arithmetic (soft-float on a Cortex-M4F) and no 64-bit
//! division. It is slower than ryu (each digit is a few passes over a big integer), which a
//! report with a handful of custom numbers does not notice.
//!
//! The boundaries of the rounding interval count as inside it when the mantissa is even, as in
//! ryu and Rust's own `{}`/`{:e}` (a correctly rounding reader such as serde_json's, or Rust's
//! `str::parse`, breaks a tie to the even mantissa). So the digits are the shortest, the same
//! ones ryu and `core::fmt` give: `1e23`, not `9.999999999999999e22`.

use core::cmp::Ordering;

/// 36 × 32 = 1152 bits. The largest value the algorithm holds is below 2^1082: `r` and
/// `r + m+` stay below 10·`s`, and `s` is at most 2^1076 (the smallest subnormals) or
/// 2·10^309 < 2^1030 (the largest finite values).
const LIMBS: usize = 36;

/// A non-negative big integer, little-endian base-2^32 limbs. Limbs from `len` on are zero.
///
/// Every operation works in place: on a Cortex-M a copy of a whole `Big` is a `memcpy` call.
struct Big {
    len: usize,
    d: [u32; LIMBS],
}

impl Big {
    const ZERO: Big = Big {
        len: 0,
        d: [0; LIMBS],
    };

    /// Sets a zero `self` to `x · 2^k`.
    fn set(&mut self, x: u64, k: u32) {
        let b = self;
        let limbs = (k / 32) as usize; // at most 2^27
        let bits = k % 32;
        let lo = x << bits;
        let hi = if bits == 0 { 0 } else { x >> (64 - bits) };
        // The three limbs `x << bits` spans; each cast keeps exactly 32 bits.
        for (i, v) in [lo as u32, (lo >> 32) as u32, hi as u32]
            .into_iter()
            .enumerate()
        {
            if let Some(slot) = b.d.get_mut(limbs + i) {
                *slot = v;
                b.len = limbs + i + 1;
            }
        }
    }

    /// `self * m`
    fn mul_small(&mut self, m: u32) {
        let mut carry = 0u64;
        for x in self.d.iter_mut().take(self.len) {
            let t = u64::from(*x) * u64::from(m) + carry;
            *x = t as u32; // the low 32 bits; the rest carries
            carry = t >> 32;
        }
        if carry != 0 {
            // Unreachable by the bound on LIMBS; dropping it beats a panic path.
            if let Some(x) = self.d.get_mut(self.len) {
                *x = carry as u32; // `carry < 2^32`
                self.len += 1;
            }
        }
    }

    /// `self * 10^k`
    fn mul_pow10(&mut self, mut k: u32) {
        while k >= 9 {
            self.mul_small(1_000_000_000);
            k -= 9;
        }
        let mut p = 1;
        for _ in 0..k {
            p *= 10;
        }
        self.mul_small(p);
    }

    /// `self = a + b`
    fn set_sum(&mut self, a: &Big, b: &Big) {
        // One limb more for the carry; and up to the old length, to clear what was there.
        let len = (a.len.max(b.len) + 1).min(LIMBS);
        let mut carry = 0u64;
        for ((z, x), y) in self
            .d
            .iter_mut()
            .zip(&a.d)
            .zip(&b.d)
            .take(len.max(self.len))
        {
            let t = u64::from(*x) + u64::from(*y) + carry;
            *z = t as u32; // low half; the rest carries
            carry = t >> 32;
        }
        self.len = len;
    }

    /// `self -= o`, for `self >= o`.
    fn sub_assign(&mut self, o: &Big) {
        let mut borrow = 0u64;
        for (x, y) in self.d.iter_mut().zip(&o.d).take(self.len) {
            let t = u64::from(*x)
                .wrapping_sub(u64::from(*y))
                .wrapping_sub(borrow);
            *x = t as u32; // low half; bit 63 set means a borrow
            borrow = t >> 63;
        }
    }

    fn cmp(&self, o: &Big) -> Ordering {
        let len = self.len.max(o.len);
        for (x, y) in self.d.iter().zip(&o.d).take(len).rev() {
            match x.cmp(y) {
                Ordering::Equal => {}
                other => return other,
            }
        }
        Ordering::Equal
    }
}

/// The shortest digits of a finite, non-zero `|x|` (at most 17) and the decimal exponent `k`,
/// so that `|x|` reads back from `0.d₁d₂…dₙ × 10^k`. Returns the digit count.
pub(crate) fn shortest(x: f64, digits: &mut [u8; 17]) -> (usize, i32) {
    let bits = x.to_bits();
    let frac = bits & ((1 << 52) - 1);
    let bexp = ((bits >> 52) & 0x7ff) as i32; // 11 bits
    let (f, e) = if bexp == 0 {
        (frac, -1074)
    } else {
        (frac | (1 << 52), bexp - 1075)
    };
    // The gap to the next lower `f64` is half the gap above at a power of two (except
    // where the subnormals begin).
    let lower_closer = frac == 0 && bexp > 1;
    // With an even mantissa a reader that meets a boundary rounds to this `f64`: both
    // boundaries are inside. `past(a, b)`: `a` is beyond boundary `b`.
    let even = f % 2 == 0;
    let past = |o: Ordering| o == Ordering::Greater || (even && o == Ordering::Equal);
    // v = r / s; the rounding interval is (v - m- / s, v + m+ / s).
    let shift = u32::from(lower_closer) + 1;
    let (e2, s2) = if e >= 0 {
        (e.unsigned_abs(), 0)
    } else {
        (0, e.unsigned_abs())
    };
    let (mut r, mut s, mut mp, mut mm, mut t) =
        (Big::ZERO, Big::ZERO, Big::ZERO, Big::ZERO, Big::ZERO);
    r.set(f, e2 + shift);
    s.set(1, s2 + shift);
    mp.set(1, e2 + shift - 1);
    mm.set(1, e2);
    // v is in [2^b, 2^(b+1)), so k = ceil(log10(v + m+)) is floor(b·log10 2) + 1 or one more.
    // 78913 / 2^18 is log10 2 closely enough for |b| <= 1650; `>>` floors negatives too.
    let b = e + (63 - f.leading_zeros() as i32); // `leading_zeros() <= 64`
    let mut k = ((b * 78913) >> 18) + 1;
    if k >= 0 {
        s.mul_pow10(k.unsigned_abs());
    } else {
        let up = k.unsigned_abs();
        r.mul_pow10(up);
        mp.mul_pow10(up);
        mm.mul_pow10(up);
    }
    t.set_sum(&r, &mp);
    if past(t.cmp(&s)) {
        s.mul_small(10);
        k += 1;
    }
    // Invariant: r + m+ is inside s (below, or equal with an odd mantissa), so every digit is
    // 0..=9 and a rounded-up digit is at most 9.
    let mut n = 0;
    for slot in digits.iter_mut() {
        r.mul_small(10);
        mp.mul_small(10);
        mm.mul_small(10);
        let mut d = 0u8;
        while r.cmp(&s) != Ordering::Less {
            r.sub_assign(&s);
            d += 1;
        }
        let low = past(mm.cmp(&r));
        t.set_sum(&r, &mp);
        let high = past(t.cmp(&s));
        n += 1;
        if !low && !high {
            *slot = b'0' + d;
            continue;
        }
        // Stop: round up when only the upper neighbour is inside the interval, or when both
        // are and the upper one is nearer.
        let up = if low && high {
            t.set_sum(&r, &r);
            t.cmp(&s) != Ordering::Less
        } else {
            high
        };
        *slot = b'0' + d + u8::from(up);
        break;
    }
    (n, k)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::String;

    use super::shortest;

    fn text(x: f64) -> String {
        let mut d = [0u8; 17];
        let (n, k) = shortest(x, &mut d);
        let digits = std::str::from_utf8(&d[..n]).unwrap();
        std::format!("0.{digits}e{k}")
    }

    fn check(x: f64) {
        let t = text(x);
        let back: f64 = t.parse().unwrap();
        assert_eq!(back.to_bits(), x.to_bits(), "{x:e} -> {t}");
        // The same shortest digits Rust's `{:e}` writes.
        let std_digits = std::format!("{x:e}")
            .split('e')
            .next()
            .unwrap()
            .replace('.', "");
        let ours = &t[2..t.find('e').unwrap()];
        assert_eq!(ours, std_digits, "{x:e} -> {t}");
    }

    #[test]
    fn edge_values_read_back() {
        for x in [
            f64::MIN_POSITIVE,
            f64::MAX,
            5e-324,
            1e-323,
            f64::from_bits((1 << 52) - 1), // largest subnormal
            0.1,
            0.3,
            1.0 / 3.0,
            2.5,
            12.5,
            42.5,
            1e23,
            9007199254740993.0,
            2f64.powi(60),
            2f64.powi(-1022),
            2f64.powi(-1021),
            2f64.powi(1023),
            123456789012345680.0,
            1.7976931348623157e308,
            f64::from_bits(1),
        ] {
            check(x);
        }
        assert_eq!(text(12.5), "0.125e2");
        assert_eq!(text(0.1), "0.1e0");
        assert_eq!(text(1e23), "0.1e24");
        assert_eq!(text(2.31152459410736e18), "0.231152459410736e19");
        assert_eq!(text(5e-324), "0.5e-323");
    }

    #[test]
    fn random_bits_read_back() {
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        for i in 0..100_000u64 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            // Every exponent, and also mantissas that are powers of two.
            let bits = if i % 7 == 0 { s & !((1 << 52) - 1) } else { s };
            let x = f64::from_bits(bits & !(1 << 63));
            if x.is_finite() && x != 0.0 {
                check(x);
            }
        }
    }
}
