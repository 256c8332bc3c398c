//! The register of care homes: the `care-homes.json` of the region's data
//! set, every home in one of the region's localities.

use std::collections::BTreeMap;
use std::path::Path;

use pf_access::CqcLocationId;
use pf_region::{DataFile, LocalityCode, Region, RegionError, RegionFiles};
use serde::Deserialize;

use crate::phone::PhoneNumber;
use crate::record::Registration;

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
    /// A file's content is not a register.
    #[error("{file}: {problem}")]
    InFile {
        /// Which file.
        file: String,
        /// What is wrong, naming the home.
        problem: String,
    },
    /// The region's data could not be read, or a home lies in a locality
    /// the region does not have.
    #[error(transparent)]
    Region(#[from] RegionError),
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
    locality: LocalityCode,
    registered_beds: u32,
    categories: Vec<crate::CareCategory>,
    #[serde(default)]
    phone: Option<String>,
}

/// Care homes by CQC location id.
#[derive(Debug, Clone, Default)]
pub struct Register {
    homes: BTreeMap<CqcLocationId, Registration>,
}

impl Register {
    /// The register of the built-in default region (the synthetic LLR
    /// homes, `data/regions/llr/care-homes.json`).
    pub fn llr_demo() -> Result<Self, RegisterError> {
        let files = RegionFiles::BuiltIn;
        Self::load(&files, &files.region()?)
    }

    /// The `care-homes.json` of a region's data set, checked against its region.
    pub fn load(files: &RegionFiles, region: &Region) -> Result<Self, RegisterError> {
        let file = files.read(DataFile::CareHomes)?;
        Self::for_region(&file.name, &file.text, region)
    }

    /// A register from a JSON file of the same shape as `care-homes.json`,
    /// checked against the region.
    pub fn load_file(path: &Path, region: &Region) -> Result<Self, RegisterError> {
        let text = std::fs::read_to_string(path).map_err(|cause| RegisterError::Io {
            path: path.display().to_string(),
            cause,
        })?;
        Self::for_region(&path.display().to_string(), &text, region)
    }

    /// A register from JSON text (`file` names it in errors) whose every
    /// home lies in one of the region's localities.
    pub fn for_region(file: &str, text: &str, region: &Region) -> Result<Self, RegisterError> {
        let register = Self::from_json(text).map_err(|e| match e {
            RegisterError::Invalid(problem) => RegisterError::InFile {
                file: file.to_owned(),
                problem,
            },
            other => other,
        })?;
        for home in register.homes() {
            if region.locality(home.locality.as_str()).is_none() {
                let known: Vec<&str> = region.localities.iter().map(|l| l.code.as_str()).collect();
                return Err(RegionError::invalid(
                    file,
                    format!("home {}", home.cqc_location_id),
                    format!(
                        "lies in locality `{}`, which the region does not have (its localities: {})",
                        home.locality,
                        known.join(", ")
                    ),
                )
                .into());
            }
        }
        Ok(register)
    }

    /// A register from JSON text (its localities are not checked: see
    /// [`for_region`](Self::for_region)).
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
            let phone = match entry.phone.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(text) => Some(PhoneNumber::parse(text).map_err(|e| {
                    RegisterError::Invalid(format!("home {}: {e}", entry.cqc_location_id))
                })?),
            };
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
                phone,
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

    /// Adds a home, or replaces its registration (the register's event
    /// log said so). Returns whether anything changed.
    pub fn insert(&mut self, registration: Registration) -> bool {
        let cqc = registration.cqc_location_id.clone();
        if self.homes.get(&cqc) == Some(&registration) {
            return false;
        }
        self.homes.insert(cqc, registration);
        true
    }

    /// Takes a home off (it was retired). Returns whether it was on.
    pub fn remove(&mut self, cqc: &CqcLocationId) -> bool {
        self.homes.remove(cqc).is_some()
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
        // Ofcom's drama numbers for Leicester: 0116 496 0000 to 0116 496 0999.
        for home in register.homes() {
            let phone = home.phone.as_ref().expect("every demo home has a phone");
            assert!(
                phone.digits().starts_with("01164960"),
                "{}: {phone}",
                home.cqc_location_id
            );
        }
        let region = RegionFiles::BuiltIn.region().expect("the default region");
        for locality in &region.localities {
            assert!(
                register.homes().any(|h| h.locality == locality.code),
                "{}",
                locality.code
            );
        }
    }

    #[test]
    fn every_home_lies_in_a_locality_of_its_region() {
        let region = Region::from_json(
            "region.json",
            r#"{ "ics": { "code": "QZZ", "name": "Test Shire", "short_name": "TS ICB" },
                 "example_postcode": "ZZ1 1AA",
                 "localities": [{ "code": "north", "name": "North", "postcode_districts": [
                   { "district": "ZZ1", "latitude": 54.0, "longitude": -2.0 }] }] }"#,
        )
        .expect("valid region");
        let home = |locality: &str| {
            format!(
                r#"{{ "homes": [{{ "cqc_location_id": "1-000000009", "name": "Fell House (demo)",
                  "address": "1 Fell Road", "postcode": "ZZ1 1AB", "latitude": 54.0, "longitude": -2.0,
                  "locality": "{locality}", "registered_beds": 20, "categories": ["nursing"] }}] }}"#
            )
        };
        let register =
            Register::for_region("care-homes.json", &home("north"), &region).expect("valid");
        assert_eq!(register.len(), 1);
        let refused = Register::for_region("care-homes.json", &home("rutland"), &region)
            .expect_err("rutland is not in Test Shire")
            .to_string();
        assert_eq!(
            refused,
            "care-homes.json: home 1-000000009: lies in locality `rutland`, which the region does not have (its localities: north)"
        );
        let one = home("north");
        let entry = &one[one.find("{ \"cqc").expect("entry")..one.rfind(']').expect("end")];
        let twice = format!(r#"{{ "homes": [{entry}, {entry}] }}"#);
        let refused = Register::for_region("x/care-homes.json", &twice, &region)
            .expect_err("listed twice")
            .to_string();
        assert_eq!(refused, "x/care-homes.json: 1-000000009 is listed twice");
    }

    #[test]
    fn a_phone_number_is_checked_when_the_register_is_read() {
        let region = RegionFiles::BuiltIn.region().expect("the default region");
        let home = |phone: &str| {
            format!(
                r#"{{ "homes": [{{ "cqc_location_id": "1-000000009", "name": "Fell House (demo)",
                  "address": "1 Fell Road", "postcode": "LE2 1AB", "latitude": 52.6, "longitude": -1.1,
                  "locality": "leicester_city", "registered_beds": 20, "categories": ["nursing"]
                  {phone} }}] }}"#
            )
        };
        let cqc = CqcLocationId::parse("1-000000009").expect("id");
        let read = Register::for_region(
            "care-homes.json",
            &home(r#", "phone": "+44 116 496 0999""#),
            &region,
        )
        .expect("valid");
        let phone = read
            .get(&cqc)
            .and_then(|h| h.phone.clone())
            .expect("a phone");
        assert_eq!(phone.spaced(), "0116 496 0999");
        let without = Register::for_region("care-homes.json", &home(""), &region).expect("valid");
        assert_eq!(without.get(&cqc).map(|h| h.phone.clone()), Some(None));
        let refused = Register::for_region(
            "regions/x/care-homes.json",
            &home(r#", "phone": "0116-496-0999""#),
            &region,
        )
        .expect_err("dashes are refused")
        .to_string();
        assert_eq!(
            refused,
            "regions/x/care-homes.json: home 1-000000009: `0116-496-0999` is not a UK telephone number: use digits and spaces only, starting with 0 or +44 (for example 0116 496 0123)"
        );
    }
}
