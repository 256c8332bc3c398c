//! Cross-site request forgery protection for forms.
//!
//! Forms of a signed-in person carry their session's `csrf_token`. Forms
//! filled in before signing in (the sign-in page, a sign-in link's confirm
//! page) use a double-submit cookie: the page sets `pf_csrf` (HttpOnly,
//! SameSite=Strict) and puts the same random value in a hidden field; the
//! post must carry both, equal. Another site can make a browser post a form
//! but can neither read nor set that cookie. Comparisons are constant-time.

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use rand::RngCore as _;
use subtle::ConstantTimeEq as _;

/// Name of the double-submit cookie.
pub const CSRF_COOKIE: &str = "pf_csrf";

/// How long a sign-in form stays usable (2 hours).
pub const CSRF_MAX_AGE_SECS: u64 = 2 * 60 * 60;

/// A new random token (256 bits, base64url).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `token` looks like one of ours (so a cookie can be reused).
fn well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The `pf_csrf` cookie of a request, if present and well formed.
pub fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == CSRF_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| well_formed(value))
}

/// The token for a form page: the request's cookie when it has one (so
/// several open tabs all work), else a new one.
pub fn token_for_page(headers: &HeaderMap) -> String {
    cookie_token(headers).map_or_else(new_token, str::to_owned)
}

/// `Set-Cookie` for the double-submit cookie.
pub fn set_cookie(token: &str, insecure_http: bool) -> String {
    let secure = if insecure_http { "" } else { "; Secure" };
    format!(
        "{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={CSRF_MAX_AGE_SECS}{secure}"
    )
}

/// Whether two tokens are equal, in constant time; empty never matches.
pub fn tokens_match(expected: &str, presented: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// Whether a pre-sign-in form's field matches its cookie.
pub fn double_submit_ok(headers: &HeaderMap, field: Option<&str>) -> bool {
    match (cookie_token(headers), field) {
        (Some(cookie), Some(field)) => tokens_match(cookie, field),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(value).expect("header"),
        );
        headers
    }

    #[test]
    fn the_field_must_equal_the_cookie() {
        let token = new_token();
        let headers = with_cookie(&format!("a=1; {CSRF_COOKIE}={token}"));
        assert!(double_submit_ok(&headers, Some(&token)));
        assert!(!double_submit_ok(&headers, Some(&new_token())));
        assert!(!double_submit_ok(&headers, None));
        assert!(!double_submit_ok(&HeaderMap::new(), Some(&token)));
        assert!(!double_submit_ok(&with_cookie("pf_csrf="), Some("")));
    }

    #[test]
    fn pages_reuse_a_good_cookie_and_replace_a_bad_one() {
        let token = new_token();
        assert_eq!(
            token_for_page(&with_cookie(&format!("pf_csrf={token}"))),
            token
        );
        assert_ne!(token_for_page(&with_cookie("pf_csrf=short")), "short");
        assert!(set_cookie(&token, false).contains("; Secure"));
        assert!(set_cookie(&token, true).contains("HttpOnly; SameSite=Strict"));
    }
}
