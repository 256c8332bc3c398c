//! The register of care homes, loaded from reference data.

use std::collections::BTreeMap;
use std::path::Path;

use pf_access::CqcLocationId;
use serde::Deserialize;

use crate::record::Registration;

/// The synthetic LLR register that ships with the platform.
pub const LLR_DEMO: &str = include_str!("../data/llr-care-homes.json");

/// The register could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The file could not be read.
    #[error("could not read the care-home register {path}: {cause}")]
    Io {
        /// Which file.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
    /// The content is not a register.
    #[error("the care-home register is not valid: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
struct RegisterFile {
    homes: Vec<HomeEntry>,
}

#[derive(Deserialize)]
struct HomeEntry {
    cqc_location_id: CqcLocationId,
    name: String,
    address: String,
    postcode: String,
    latitude: f64,
    longitude: f64,
    locality: crate::Locality,
    registered_beds: u32,
    categories: Vec<crate::CareCategory>,
}

/// Care homes by CQC location id.
#[derive(Debug, Clone, Default)]
pub struct Register {
    homes: BTreeMap<CqcLocationId, Registration>,
}

impl Register {
    /// The synthetic LLR register.
    pub fn llr_demo() -> Result<Self, RegisterError> {
        Self::from_json(LLR_DEMO)
    }

    /// A register from a JSON file of the same shape as `data/llr-care-homes.json`.
    pub fn load(path: &Path) -> Result<Self, RegisterError> {
        let text = std::fs::read_to_string(path).map_err(|cause| RegisterError::Io {
            path: path.display().to_string(),
            cause,
        })?;
        Self::from_json(&text)
    }

    /// A register from JSON text.
    pub fn from_json(text: &str) -> Result<Self, RegisterError> {
        let file: RegisterFile =
            serde_json::from_str(text).map_err(|e| RegisterError::Invalid(e.to_string()))?;
        let mut homes = BTreeMap::new();
        for entry in file.homes {
            if entry.categories.is_empty() {
                return Err(RegisterError::Invalid(format!(
                    "{} offers no category of care",
                    entry.cqc_location_id
                )));
            }
            if !(49.0..61.0).contains(&entry.latitude) || !(-9.0..2.5).contains(&entry.longitude) {
                return Err(RegisterError::Invalid(format!(
                    "{} lies outside the UK ({}, {})",
                    entry.cqc_location_id, entry.latitude, entry.longitude
                )));
            }
            let registration = Registration {
                cqc_location_id: entry.cqc_location_id.clone(),
                name: entry.name,
                address: entry.address,
                postcode: entry.postcode,
                latitude: entry.latitude,
                longitude: entry.longitude,
                locality: entry.locality,
                registered_beds: entry.registered_beds,
                categories: entry.categories,
            };
            if homes
                .insert(entry.cqc_location_id.clone(), registration)
                .is_some()
            {
                return Err(RegisterError::Invalid(format!(
                    "{} is listed twice",
                    entry.cqc_location_id
                )));
            }
        }
        Ok(Self { homes })
    }

    /// Every home, by CQC location id.
    pub fn homes(&self) -> impl Iterator<Item = &Registration> {
        self.homes.values()
    }

    /// One home.
    pub fn get(&self, cqc: &CqcLocationId) -> Option<&Registration> {
        self.homes.get(cqc)
    }

    /// How many homes.
    pub fn len(&self) -> usize {
        self.homes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.homes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_register_is_three_hundred_synthetic_llr_homes() {
        let register = Register::llr_demo().expect("valid register");
        assert_eq!(register.len(), 300);
        assert!(register.homes().all(|h| h.name.ends_with("(demo)")));
        assert!(register.homes().all(|h| h.postcode.starts_with("LE")));
        for locality in crate::Locality::ALL {
            assert!(
                register.homes().any(|h| h.locality == *locality),
                "{locality}"
            );
        }
    }
}
