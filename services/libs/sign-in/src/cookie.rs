//! The session cookie.

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "pf_session";

/// `Set-Cookie` for a new session: HttpOnly (no script can read it), Secure
/// unless `insecure_http` (local development over plain http), SameSite=Lax
/// (sent on top-level navigation, not on cross-site form posts), whole site.
pub fn set_session(id: &str, max_age_secs: u64, insecure_http: bool) -> String {
    let secure = if insecure_http { "" } else { "; Secure" };
    format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}")
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_session(insecure_http: bool) -> String {
    let secure = if insecure_http { "" } else { "; Secure" };
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

/// The session id in a `Cookie` header, if any.
pub fn session_id(cookie_header: &str) -> Option<&str> {
    cookie_header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_and_secure_outside_development() {
        let cookie = set_session("abc", 60, false);
        assert!(
            cookie.contains("HttpOnly")
                && cookie.contains("Secure")
                && cookie.contains("SameSite=Lax")
        );
        assert!(!set_session("abc", 60, true).contains("Secure"));
        assert!(clear_session(false).contains("Max-Age=0"));
    }

    #[test]
    fn the_session_id_is_found_among_other_cookies() {
        assert_eq!(session_id("a=1; pf_session=xyz; b=2"), Some("xyz"));
        assert_eq!(session_id("pf_session="), None);
        assert_eq!(session_id("other=1"), None);
    }
}
