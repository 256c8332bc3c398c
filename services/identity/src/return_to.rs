//! Where to send a person after signing in, without an open redirect.

/// Where a person goes after signing in when nothing (usable) is asked for.
pub const DEFAULT_RETURN_TO: &str = "/control-room";

/// A path on this site: starts with one `/`, no scheme or host, no
/// backslash (browsers read `/\evil` as `//evil`), no control characters or
/// spaces, at most 512 bytes. The only way in is [`ReturnTo::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnTo(String);

impl ReturnTo {
    /// The path, if it is a safe local path.
    pub fn parse(value: &str) -> Option<Self> {
        let bytes = value.as_bytes();
        let local = bytes.first() == Some(&b'/')
            && bytes.get(1) != Some(&b'/')
            && bytes.len() <= 512
            && !value.contains('\\')
            && !value.chars().any(|c| c.is_control() || c.is_whitespace());
        local.then(|| Self(value.to_owned()))
    }

    /// The path, or [`DEFAULT_RETURN_TO`] when it is missing or unsafe.
    pub fn or_default(value: Option<&str>) -> Self {
        value
            .and_then(Self::parse)
            .unwrap_or_else(|| Self(DEFAULT_RETURN_TO.to_owned()))
    }

    /// The path.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Like [`or_default`](Self::or_default), but also keeps an absolute
    /// address on one of `allowed_origins` (the dashboards' own origins,
    /// `PF_RETURN_ORIGINS`), and sends local paths and the default to
    /// `home` (`PF_HOME_URL`, where the dashboards are served) when it is set.
    pub fn resolve(value: Option<&str>, allowed_origins: &[String], home: Option<&str>) -> Self {
        if let Some(value) = value
            && value.len() <= 512
            && !value
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        {
            for origin in allowed_origins {
                let origin = origin.trim_end_matches('/');
                if let Some(rest) = value.strip_prefix(origin)
                    && (rest.is_empty() || rest.starts_with('/') && !rest.starts_with("//"))
                {
                    return Self(value.to_owned());
                }
            }
        }
        let local = Self::or_default(value);
        match home {
            Some(home) => Self(format!("{}{}", home.trim_end_matches('/'), local.0)),
            None => local,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_returns_only_to_allowed_origins() {
        let allowed = vec!["http://127.0.0.1:8080".to_owned()];
        let home = Some("http://127.0.0.1:8080");
        for (given, want) in [
            (
                Some("http://127.0.0.1:8080/control-room"),
                "http://127.0.0.1:8080/control-room",
            ),
            (Some("/control-room"), "http://127.0.0.1:8080/control-room"),
            (None, "http://127.0.0.1:8080/control-room"),
            (
                Some("http://127.0.0.1:8080.evil.example/"),
                "http://127.0.0.1:8080/control-room",
            ),
            (
                Some("http://127.0.0.1:8080//evil.example"),
                "http://127.0.0.1:8080/control-room",
            ),
            (
                Some("https://evil.example/"),
                "http://127.0.0.1:8080/control-room",
            ),
        ] {
            assert_eq!(
                ReturnTo::resolve(given, &allowed, home).as_str(),
                want,
                "{given:?}"
            );
        }
        assert_eq!(ReturnTo::resolve(Some("/x"), &[], None).as_str(), "/x");
    }

    #[test]
    fn only_local_paths_are_kept() {
        for ok in ["/", "/control-room", "/care-home/1-000000001?tab=beds#x"] {
            assert_eq!(
                ReturnTo::parse(ok).map(|r| r.0),
                Some(ok.to_owned()),
                "{ok}"
            );
        }
        for bad in [
            "",
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "evil.example",
            "javascript:alert(1)",
            "/a b",
            "/\tx",
            "/\r\nLocation: x",
        ] {
            assert_eq!(ReturnTo::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            ReturnTo::or_default(Some("//evil")).as_str(),
            DEFAULT_RETURN_TO
        );
        assert_eq!(ReturnTo::or_default(None).as_str(), DEFAULT_RETURN_TO);
    }
}
