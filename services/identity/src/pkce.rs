//! Proof Key for Code Exchange (RFC 7636), S256 only.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The S256 challenge of a code verifier: base64url(SHA-256(verifier)).
pub fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether a code verifier is well formed: 43 to 128 unreserved characters.
pub fn verifier_ok(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Whether a challenge is well formed: an S256 challenge is 43 base64url
/// characters.
pub fn challenge_ok(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `verifier` answers `expected_challenge`, compared in constant time.
pub fn verifies(verifier: &str, expected_challenge: &str) -> bool {
    verifier_ok(verifier)
        && bool::from(
            challenge(verifier)
                .as_bytes()
                .ct_eq(expected_challenge.as_bytes()),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7636_example_verifies() {
        // RFC 7636, appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let expected = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(challenge(verifier), expected);
        assert!(challenge_ok(expected));
        assert!(verifies(verifier, expected));
        assert!(!verifies(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx",
            expected
        ));
        assert!(!verifies("short", &challenge("short")));
        assert!(!verifier_ok(&"a".repeat(129)) && !verifier_ok(&format!("{}+", "a".repeat(43))));
    }
}
