//! Server URLs without their secrets, for errors and logs.

/// Query parameters whose values are secrets (`redis+unix:///s?pass=…`).
const SECRET_PARAMETERS: [&str; 3] = ["pass", "password", "token"];

/// `url` with its password (and any secret query parameter) replaced by
/// `***`, for an error or a log line: `redis://pressure:s3cret@host:6379`
/// becomes `redis://pressure:***@host:6379`. User info without a `:` is
/// hidden whole (it may be a password written without a user name).
pub fn redact_url(url: &str) -> String {
    let (head, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let query_at = rest.find(['?', '#']).unwrap_or(rest.len());
    let (before_query, query) = rest.split_at(query_at);
    let mut out = head;
    match before_query.rfind('@') {
        Some(at) => {
            let (userinfo, host) = before_query.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _)) => out.push_str(&format!("{user}:***")),
                None => out.push_str("***"),
            }
            out.push_str(host);
        }
        None => out.push_str(before_query),
    }
    out.push_str(&redact_query(query));
    out
}

fn redact_query(query: &str) -> String {
    let Some(params) = query.strip_prefix('?') else {
        return query.to_owned();
    };
    let (params, fragment) = params
        .split_once('#')
        .map_or((params, None), |(p, f)| (p, Some(f)));
    let params: Vec<String> = params
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_PARAMETERS.contains(&name.to_ascii_lowercase().as_str()) => {
                format!("{name}=***")
            }
            _ => pair.to_owned(),
        })
        .collect();
    let mut out = format!("?{}", params.join("&"));
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_survive() {
        for (url, shown) in [
            (
                "redis://pressure:s3cret@127.0.0.1:6390",
                "redis://pressure:***@127.0.0.1:6390",
            ),
            (
                "rediss://:s3cret@redis.example:6380/0",
                "rediss://:***@redis.example:6380/0",
            ),
            ("redis://s3cret@127.0.0.1", "redis://***@127.0.0.1"),
            (
                "redis://u:p@ss/w:rd@host:6379/2",
                "redis://u:***@host:6379/2",
            ),
            (
                "redis+unix:///run/redis.sock?db=1&pass=s3cret",
                "redis+unix:///run/redis.sock?db=1&pass=***",
            ),
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            ("127.0.0.1:6379", "127.0.0.1:6379"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
        assert!(!redact_url("redis://u:p@ss/w:rd@host").contains("rd"));
    }
}
