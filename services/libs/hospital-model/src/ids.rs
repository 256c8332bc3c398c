//! Identifiers of sites, wards and beds.
//!
//! Each one is also a NATS subject token, so the allowed characters are
//! deliberately narrow: letters, digits and `-`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an identifier was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    /// Empty or longer than the limit.
    #[error("{what} must be 1 to {max} characters long, got {len}")]
    Length {
        /// Which identifier.
        what: &'static str,
        /// The limit.
        max: usize,
        /// What was given.
        len: usize,
    },
    /// Contains a character outside the allowed set.
    #[error("{what} `{value}` may contain only letters, digits and '-'")]
    Characters {
        /// Which identifier.
        what: &'static str,
        /// What was given.
        value: String,
    },
}

fn check(what: &'static str, max: usize, value: &str) -> Result<(), IdError> {
    if value.is_empty() || value.len() > max {
        return Err(IdError::Length {
            what,
            max,
            len: value.len(),
        });
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(IdError::Characters {
            what,
            value: value.to_owned(),
        });
    }
    Ok(())
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:literal, upper = $upper:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses an identifier; the only way to make one.
            pub fn parse(value: &str) -> Result<Self, IdError> {
                let value = value.trim();
                check($what, $max, value)?;
                Ok(Self(if $upper { value.to_ascii_uppercase() } else { value.to_owned() }))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

identifier!(
    /// An ODS site code (e.g. `RWEAA`, Leicester Royal Infirmary), upper case.
    SiteCode, "site code", 12, upper = true
);
identifier!(
    /// A ward's code within its site (e.g. `WD15`), upper case.
    WardCode, "ward code", 32, upper = true
);
identifier!(
    /// A bed's code within its ward (e.g. `B03`, `E01` for an escalation bed), upper case.
    BedCode, "bed code", 32, upper = true
);

/// Where a bed is: site, ward and bed code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BedAddress {
    /// ODS site code.
    pub site: SiteCode,
    /// Ward within the site.
    pub ward: WardCode,
    /// Bed within the ward.
    pub bed: BedCode,
}

impl BedAddress {
    /// Parses the three parts of a bed's address.
    pub fn parse(site: &str, ward: &str, bed: &str) -> Result<Self, IdError> {
        Ok(Self {
            site: SiteCode::parse(site)?,
            ward: WardCode::parse(ward)?,
            bed: BedCode::parse(bed)?,
        })
    }

    /// The entity id used in event envelopes: `bed/{site}/{ward}/{bed}`.
    pub fn entity_id(&self) -> String {
        format!("bed/{}/{}/{}", self.site, self.ward, self.bed)
    }

    /// The protobuf form.
    pub fn to_proto(&self) -> pf_proto::v1::BedRef {
        pf_proto::v1::BedRef {
            site: self.site.to_string(),
            ward: self.ward.to_string(),
            bed: self.bed.to_string(),
        }
    }

    /// Reads the protobuf form back, checking each part.
    pub fn from_proto(bed: &pf_proto::v1::BedRef) -> Result<Self, IdError> {
        Self::parse(&bed.site, &bed.ward, &bed.bed)
    }
}

impl fmt::Display for BedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.site, self.ward, self.bed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_trimmed_and_upper_cased() {
        let bed = BedAddress::parse(" rweaa", "wd15", "b03 ").expect("valid");
        assert_eq!(bed.to_string(), "RWEAA/WD15/B03");
        assert_eq!(bed.entity_id(), "bed/RWEAA/WD15/B03");
    }

    #[test]
    fn subject_breaking_characters_are_refused() {
        for bad in ["RW.EA", "RW EA", "RW*", ">", "a/b"] {
            assert!(matches!(
                SiteCode::parse(bad),
                Err(IdError::Characters { .. })
            ));
        }
        assert!(matches!(SiteCode::parse(""), Err(IdError::Length { .. })));
        assert!(matches!(
            WardCode::parse(&"W".repeat(33)),
            Err(IdError::Length { .. })
        ));
    }
}
