//! Secrets and serials come from the operating system's cryptographic RNG (`getrandom`), never
//! from a fast, predictable generator: a webhook's HMAC key or a certificate serial an attacker
//! could predict would be worth nothing.

/// Fills `buf` from the operating system's cryptographic RNG.
pub fn fill(buf: &mut [u8]) -> Result<(), getrandom::Error> {
    getrandom::fill(buf)
}
