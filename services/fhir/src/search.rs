//! Search parameters and paging.
//!
//! Searches are strict: a parameter the resource type does not support is a
//! 400 with an `OperationOutcome` naming it (rather than silently ignored,
//! which would answer a different question than the one asked).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::model::{Bundle, Entry, Identifier, Link, Resource, Search as EntrySearch};
use crate::resources::instant;

/// Matches per page unless `_count` says otherwise.
pub const DEFAULT_COUNT: usize = 50;
/// The most matches one page may hold.
pub const MAX_COUNT: usize = 500;

/// A search that cannot be run, with the sentence saying why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadSearch(pub String);

/// A `token` search value: `system|value`, `|value` or `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The system, when given (`Some("")`: explicitly none).
    pub system: Option<String>,
    /// The value.
    pub value: String,
}

impl Token {
    fn parse(text: &str) -> Self {
        match text.split_once('|') {
            Some((system, value)) => Token {
                system: Some(system.to_owned()),
                value: value.to_owned(),
            },
            None => Token {
                system: None,
                value: text.to_owned(),
            },
        }
    }

    /// Whether any of `identifiers` matches.
    pub fn matches(&self, identifiers: &[Identifier]) -> bool {
        identifiers
            .iter()
            .any(|i| i.value == self.value && self.system.as_deref().is_none_or(|s| s == i.system))
    }
}

/// A `_lastUpdated` comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateBound {
    /// `eq`, `gt`, `ge`, `lt`, `le`.
    pub prefix: Prefix,
    /// The moment compared with.
    pub at: OffsetDateTime,
}

/// A date comparison prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    /// Equal.
    Eq,
    /// Greater than.
    Gt,
    /// Greater or equal.
    Ge,
    /// Less than.
    Lt,
    /// Less or equal.
    Le,
}

impl DateBound {
    fn parse(text: &str) -> Result<Self, BadSearch> {
        let (prefix, rest) = match text.get(..2) {
            Some("eq") => (Prefix::Eq, &text[2..]),
            Some("gt") => (Prefix::Gt, &text[2..]),
            Some("ge") => (Prefix::Ge, &text[2..]),
            Some("lt") => (Prefix::Lt, &text[2..]),
            Some("le") => (Prefix::Le, &text[2..]),
            _ => (Prefix::Eq, text),
        };
        let at = OffsetDateTime::parse(rest, &Rfc3339).map_err(|_| {
            BadSearch(format!(
                "_lastUpdated `{text}` is not a date and time such as ge2026-12-01T09:00:00Z \
                 (prefixes: eq, gt, ge, lt, le)"
            ))
        })?;
        Ok(DateBound { prefix, at })
    }

    /// Whether a resource last updated at `last_updated` matches (a resource
    /// with no known time never does).
    pub fn matches(&self, last_updated: Option<&str>) -> bool {
        let Some(at) = last_updated.and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok()) else {
            return false;
        };
        match self.prefix {
            Prefix::Eq => at == self.at,
            Prefix::Gt => at > self.at,
            Prefix::Ge => at >= self.at,
            Prefix::Lt => at < self.at,
            Prefix::Le => at <= self.at,
        }
    }
}

/// A search, as asked.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Every parameter as given (for the `self` and `next` links).
    pub pairs: Vec<(String, String)>,
    /// `identifier` values (all must match).
    pub identifier: Vec<Token>,
    /// `partof`: a Location id.
    pub partof: Option<String>,
    /// `organization`: an Organization id.
    pub organization: Option<String>,
    /// `subject`: a Location id.
    pub subject: Option<String>,
    /// `_lastUpdated` bounds (all must match).
    pub last_updated: Vec<DateBound>,
    /// Page size.
    pub count: usize,
    /// Matches skipped (the page's start).
    pub offset: usize,
}

/// Reads `query` for a resource type that supports `supported` (besides
/// `_count`, `_offset`, `_lastUpdated` and `_format`).
pub fn parse(query: Option<&str>, supported: &[&str]) -> Result<Query, BadSearch> {
    let mut q = Query {
        count: DEFAULT_COUNT,
        ..Query::default()
    };
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let (name, value) = (name.into_owned(), value.into_owned());
        match name.as_str() {
            "_count" => {
                q.count = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_COUNT).contains(n))
                    .ok_or_else(|| {
                        BadSearch(format!(
                            "_count `{value}` is not a number from 1 to {MAX_COUNT}"
                        ))
                    })?;
            }
            "_offset" => {
                q.offset = value
                    .parse()
                    .map_err(|_| BadSearch(format!("_offset `{value}` is not a whole number")))?;
            }
            "_lastUpdated" => q.last_updated.push(DateBound::parse(&value)?),
            "_format" => {
                if !matches!(
                    value.as_str(),
                    "json" | "application/json" | "application/fhir+json"
                ) {
                    return Err(BadSearch(format!(
                        "_format `{value}` is not offered; this server answers in JSON \
                         (application/fhir+json)"
                    )));
                }
            }
            "identifier" if supported.contains(&"identifier") => {
                q.identifier.push(Token::parse(&value));
            }
            "partof" if supported.contains(&"partof") => {
                q.partof = Some(reference_id(&value, "Location"));
            }
            "organization" if supported.contains(&"organization") => {
                q.organization = Some(reference_id(&value, "Organization"));
            }
            "subject" if supported.contains(&"subject") => {
                q.subject = Some(reference_id(&value, "Location"));
            }
            _ => {
                let mut offered = vec!["_count", "_offset", "_lastUpdated", "_format"];
                offered.extend_from_slice(supported);
                return Err(BadSearch(format!(
                    "the search parameter `{name}` is not supported here; use one of: {}",
                    offered.join(", ")
                )));
            }
        }
        q.pairs.push((name, value));
    }
    Ok(q)
}

/// `Type/id`, an absolute URL ending in it, or a bare id: the id.
fn reference_id(value: &str, kind: &str) -> String {
    let marker = format!("{kind}/");
    match value.rfind(&marker) {
        Some(at) => value[at + marker.len()..].to_owned(),
        None => value.to_owned(),
    }
}

/// One page of `matches` as a search set, with `self`, `next` and
/// `previous` links under `base` (`…/fhir/R4/Location`).
pub fn bundle(base: &str, query: &Query, matches: Vec<Resource>, server: &str) -> Bundle {
    let total = matches.len();
    let link = |offset: usize| {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &query.pairs {
            if name != "_offset" && name != "_count" {
                serializer.append_pair(name, value);
            }
        }
        serializer.append_pair("_count", &query.count.to_string());
        serializer.append_pair("_offset", &offset.to_string());
        format!("{base}?{}", serializer.finish())
    };
    let mut links = vec![Link {
        relation: "self".into(),
        url: link(query.offset),
    }];
    if query.offset + query.count < total {
        links.push(Link {
            relation: "next".into(),
            url: link(query.offset + query.count),
        });
    }
    if query.offset > 0 {
        links.push(Link {
            relation: "previous".into(),
            url: link(query.offset.saturating_sub(query.count)),
        });
    }
    let entry = matches
        .into_iter()
        .skip(query.offset)
        .take(query.count)
        .map(|resource| Entry {
            full_url: format!("{server}/{}", resource.reference()),
            resource,
            search: EntrySearch {
                mode: "match".into(),
            },
        })
        .collect();
    Bundle {
        resource_type: "Bundle".into(),
        kind: "searchset".into(),
        timestamp: instant(OffsetDateTime::now_utc()),
        total: total as u64,
        link: links,
        entry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_parameter_is_refused_by_name() {
        let err = parse(Some("name=Ward"), &["identifier"]).unwrap_err();
        assert!(err.0.contains("`name`"), "{err}");
        assert!(parse(Some("_count=0"), &[]).is_err());
        assert!(parse(Some("_count=501"), &[]).is_err());
        assert!(parse(Some("_lastUpdated=yesterday"), &[]).is_err());
    }

    #[test]
    fn tokens_and_references_are_read() {
        let q = parse(
            Some(
                "identifier=https://fhir.nhs.uk/Id/ods-site-code|RWEAA&partof=Location/RWEAA.WD15",
            ),
            &["identifier", "partof"],
        )
        .unwrap();
        assert_eq!(
            q.identifier[0].system.as_deref(),
            Some("https://fhir.nhs.uk/Id/ods-site-code")
        );
        assert_eq!(q.identifier[0].value, "RWEAA");
        assert_eq!(q.partof.as_deref(), Some("RWEAA.WD15"));
        let bound = parse(Some("_lastUpdated=ge2026-12-01T00:00:00Z"), &[])
            .unwrap()
            .last_updated[0];
        assert!(bound.matches(Some("2026-12-01T00:00:00Z")));
        assert!(!bound.matches(Some("2026-11-30T23:59:59Z")));
        assert!(!bound.matches(None));
    }
}
