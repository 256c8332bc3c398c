//! Organisation identifiers: ODS codes for NHS organisations and sites, CQC
//! location IDs for care homes.
//!
//! Both are checked when parsed, so an identifier that exists is well formed.
//! They are what a role is scoped to (see [`crate::Grant`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why an organisation identifier was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum OrgError {
    /// Not an ODS code: 3 to 5 letters and digits.
    #[error("`{0}` is not an ODS code (3 to 5 letters and digits, e.g. RWE or RWEAA)")]
    Ods(String),
    /// Not a CQC location ID: `1-` then 5 to 12 digits.
    #[error("`{0}` is not a CQC location ID (`1-` then 5 to 12 digits, e.g. 1-123456789)")]
    Cqc(String),
    /// Neither an ODS code nor a CQC location ID.
    #[error("`{0}` is neither an ODS code (e.g. RWE) nor a CQC location ID (e.g. 1-123456789)")]
    Neither(String),
}

/// An ODS code of an NHS organisation (`RWE`, `RT5`, `QK1`) or site (`RWEAA`),
/// upper case. Input is trimmed and upper-cased before checking.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OdsCode(String);

impl OdsCode {
    /// Parses an ODS code: 3 to 5 ASCII letters and digits.
    pub fn parse(value: &str) -> Result<Self, OrgError> {
        let value = value.trim().to_ascii_uppercase();
        let ok = (3..=5).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric());
        if ok {
            Ok(Self(value))
        } else {
            Err(OrgError::Ods(value))
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `site` is this organisation itself or one of its sites
    /// (ODS site codes start with their trust's code: `RWEAA` belongs to `RWE`).
    pub fn owns_site(&self, site: &str) -> bool {
        site.eq_ignore_ascii_case(&self.0)
            || (site.len() > self.0.len()
                && site
                    .get(..self.0.len())
                    .is_some_and(|prefix| prefix.eq_ignore_ascii_case(&self.0)))
    }
}

/// A CQC location ID, the identifier of a registered care home: `1-` followed
/// by 5 to 12 digits (e.g. `1-123456789`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CqcLocationId(String);

impl CqcLocationId {
    /// Parses a CQC location ID (surrounding spaces are ignored).
    pub fn parse(value: &str) -> Result<Self, OrgError> {
        let value = value.trim();
        let ok = value.strip_prefix("1-").is_some_and(|digits| {
            (5..=12).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
        });
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(OrgError::Cqc(value.to_owned()))
        }
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Either kind of organisation identifier; what a role can be scoped to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum OrgId {
    /// An NHS organisation or site.
    Ods(OdsCode),
    /// A care home.
    Cqc(CqcLocationId),
}

impl OrgId {
    /// Parses either form: `1-…` is read as a CQC location ID, anything else
    /// as an ODS code.
    pub fn parse(value: &str) -> Result<Self, OrgError> {
        let trimmed = value.trim();
        if trimmed.starts_with("1-") {
            return CqcLocationId::parse(trimmed).map(Self::Cqc);
        }
        OdsCode::parse(trimmed)
            .map(Self::Ods)
            .map_err(|_| OrgError::Neither(trimmed.to_owned()))
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ods(ods) => ods.as_str(),
            Self::Cqc(cqc) => cqc.as_str(),
        }
    }
}

impl From<OdsCode> for OrgId {
    fn from(value: OdsCode) -> Self {
        Self::Ods(value)
    }
}

impl From<CqcLocationId> for OrgId {
    fn from(value: CqcLocationId) -> Self {
        Self::Cqc(value)
    }
}

macro_rules! text_conversions {
    ($($name:ident),*) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = OrgError;
            fn from_str(value: &str) -> Result<Self, OrgError> {
                Self::parse(value)
            }
        }

        impl TryFrom<String> for $name {
            type Error = OrgError;
            fn try_from(value: String) -> Result<Self, OrgError> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.as_str().to_owned()
            }
        }
    )*};
}

text_conversions!(OdsCode, CqcLocationId, OrgId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ods_codes_are_upper_cased_and_checked() {
        assert_eq!(
            OdsCode::parse(" rwe ").map(|c| c.to_string()),
            Ok("RWE".into())
        );
        for good in ["RT5", "QK1", "RWEAA"] {
            assert!(OdsCode::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "RW", "RWEAAA", "RW-E", "R E", "RWE:1", "1-12345"] {
            assert!(OdsCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cqc_location_ids_are_checked() {
        for good in ["1-12345", "1-123456789", "1-000000001", "1-123456789012"] {
            assert!(CqcLocationId::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1-",
            "1-1234",
            "1-1234567890123",
            "2-123456789",
            "1-12345a",
            "123456789",
        ] {
            assert!(CqcLocationId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn org_ids_tell_the_two_apart() {
        assert!(matches!(OrgId::parse("RWE"), Ok(OrgId::Ods(_))));
        assert!(matches!(OrgId::parse("1-123456789"), Ok(OrgId::Cqc(_))));
        assert!(matches!(OrgId::parse("1-12"), Err(OrgError::Cqc(_))));
        assert!(matches!(
            OrgId::parse("not an org"),
            Err(OrgError::Neither(_))
        ));
        let json =
            serde_json::to_string(&OrgId::parse("1-123456789").expect("valid")).expect("json");
        assert_eq!(json, "\"1-123456789\"");
        assert!(serde_json::from_str::<OrgId>("\"R\"").is_err());
    }

    #[test]
    fn a_trust_owns_its_sites() {
        let rwe = OdsCode::parse("RWE").expect("valid");
        assert!(rwe.owns_site("RWEAA"));
        assert!(rwe.owns_site("rwe"));
        assert!(!rwe.owns_site("RT5AA"));
        assert!(!rwe.owns_site("RW"));
    }
}
