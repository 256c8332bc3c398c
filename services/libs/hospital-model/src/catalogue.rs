//! The sites, wards and beds the platform knows about.
//!
//! Reference data, not events: which beds exist at each site and what kind
//! they are. Producers refuse events for beds that are not in it. The file
//! is `sites.json` of the region's data set (`data/regions/<region>/`, see
//! `pf_region`); [`Catalogue::load`] reads it and checks every site's
//! locality against the region's `region.json`.
//!
//! Beds are numbered within their ward: core beds `B01`…`Bnn`, escalation
//! beds `E01`…`Enn` (opened only under pressure and counted separately).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use pf_region::{DataFile, Region, RegionError, RegionFiles};

use crate::bed::BedKind;
use crate::ids::{BedAddress, BedCode, SiteCode, WardCode};

/// The catalogue could not be read or does not hang together.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// Not valid JSON of the catalogue's shape.
    #[error("the site catalogue is not valid: {0}")]
    Format(#[from] serde_json::Error),
    /// The same site or ward code appears twice.
    #[error("the site catalogue lists {0} twice")]
    Duplicate(String),
    /// A ward with no beds at all.
    #[error("ward {0} has no beds")]
    EmptyWard(String),
    /// A problem of the catalogue's file, named.
    #[error("{file}: {cause}")]
    InFile {
        /// Which file.
        file: String,
        /// What is wrong with it.
        cause: Box<CatalogueError>,
    },
    /// The region's data set could not be read, or a site names a locality
    /// the region does not have.
    #[error(transparent)]
    Region(#[from] RegionError),
}

/// What sort of site it is; decides which OPEL parameters apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteKind {
    /// An acute hospital.
    Acute,
    /// A community hospital.
    Community,
    /// A mental-health unit.
    MentalHealth,
    /// Virtual-ward places (acute care at home).
    VirtualWard,
}

/// An NHS trust (ODS organisation) and its sites.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustSpec {
    /// ODS organisation code, e.g. `RWE`.
    pub code: String,
    /// Full name.
    pub name: String,
    /// Short name people use ("UHL").
    pub short_name: String,
    /// The trust's sites.
    pub sites: Vec<SiteSpec>,
}

/// One site and its wards.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SiteSpec {
    /// ODS site code.
    pub code: SiteCode,
    /// Name as people say it.
    pub name: String,
    /// What sort of site.
    pub kind: SiteKind,
    /// The code of its locality in the region's `region.json`
    /// (`leicester_city`); a locality's name is accepted too and replaced by
    /// its code when the catalogue is loaded with its region.
    pub locality: String,
    /// The locality's name for display ("Leicester City"): filled in from
    /// the region when loaded with it, else the `locality` as written.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub locality_name: String,
    /// Postcode of the site.
    pub postcode: String,
    /// The site's wards.
    pub wards: Vec<WardSpec>,
}

/// One ward: its kind and how many core and escalation beds it has.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WardSpec {
    /// Ward code within the site.
    pub code: WardCode,
    /// Ward name.
    pub name: String,
    /// Kind of every bed on the ward.
    pub kind: BedKind,
    /// Core beds, `B01`…
    pub beds: u16,
    /// Escalation beds, `E01`…, opened only under pressure.
    #[serde(default)]
    pub escalation_beds: u16,
}

/// What the catalogue says about one bed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueBed {
    /// Where it is.
    pub address: BedAddress,
    /// Its kind (the ward's).
    pub kind: BedKind,
    /// Whether it is an escalation bed.
    pub escalation: bool,
}

/// The sites, wards and beds of a region.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Catalogue {
    /// Region name, e.g. "Leicester, Leicestershire and Rutland".
    pub region: String,
    /// Trusts and their sites.
    pub trusts: Vec<TrustSpec>,
}

impl Catalogue {
    /// The catalogue of the built-in default region (Leicester,
    /// Leicestershire and Rutland, `data/regions/llr/sites.json`).
    pub fn llr() -> Result<Self, CatalogueError> {
        let files = RegionFiles::BuiltIn;
        Self::load(&files, &files.region()?)
    }

    /// The `sites.json` of a region's data set, checked against its region.
    pub fn load(files: &RegionFiles, region: &Region) -> Result<Self, CatalogueError> {
        let file = files.read(DataFile::Sites)?;
        Self::for_region(&file.name, &file.text, region)
    }

    /// Reads a catalogue from JSON (`file` names it in errors), checks that
    /// it hangs together and that every site lies in one of the region's
    /// localities (by code, or by name in catalogues written before
    /// localities were data); each site's `locality` becomes the code and
    /// its `locality_name` the region's name for it.
    pub fn for_region(file: &str, json: &str, region: &Region) -> Result<Self, CatalogueError> {
        let mut catalogue = Self::from_json(json).map_err(|cause| CatalogueError::InFile {
            file: file.to_owned(),
            cause: Box::new(cause),
        })?;
        for site in catalogue.trusts.iter_mut().flat_map(|t| t.sites.iter_mut()) {
            let Some(locality) = region.locality_by_code_or_name(&site.locality) else {
                let known: Vec<&str> = region.localities.iter().map(|l| l.code.as_str()).collect();
                return Err(RegionError::invalid(
                    file,
                    format!("site {}", site.code),
                    format!(
                        "lies in locality `{}`, which the region does not have (its localities: {})",
                        site.locality,
                        known.join(", ")
                    ),
                )
                .into());
            };
            site.locality = locality.code.to_string();
            site.locality_name = locality.name.clone();
        }
        Ok(catalogue)
    }

    /// Reads a catalogue from JSON and checks that it hangs together (its
    /// sites' localities are not checked: see [`for_region`](Self::for_region)).
    pub fn from_json(json: &str) -> Result<Self, CatalogueError> {
        let mut catalogue: Catalogue = serde_json::from_str(json)?;
        for site in catalogue.trusts.iter_mut().flat_map(|t| t.sites.iter_mut()) {
            if site.locality_name.is_empty() {
                site.locality_name = site.locality.clone();
            }
        }
        let mut sites = std::collections::HashSet::new();
        for site in catalogue.sites() {
            if !sites.insert(site.code.clone()) {
                return Err(CatalogueError::Duplicate(format!("site {}", site.code)));
            }
            let mut wards = std::collections::HashSet::new();
            for ward in &site.wards {
                if !wards.insert(ward.code.clone()) {
                    return Err(CatalogueError::Duplicate(format!(
                        "ward {}/{}",
                        site.code, ward.code
                    )));
                }
                if ward.beds == 0 && ward.escalation_beds == 0 {
                    return Err(CatalogueError::EmptyWard(format!(
                        "{}/{}",
                        site.code, ward.code
                    )));
                }
            }
        }
        Ok(catalogue)
    }

    /// Every site, trust by trust.
    pub fn sites(&self) -> impl Iterator<Item = &SiteSpec> {
        self.trusts.iter().flat_map(|t| t.sites.iter())
    }

    /// A site and its trust.
    pub fn site(&self, code: &SiteCode) -> Option<(&TrustSpec, &SiteSpec)> {
        self.trusts
            .iter()
            .find_map(|t| t.sites.iter().find(|s| &s.code == code).map(|s| (t, s)))
    }

    /// A ward of a site.
    pub fn ward(&self, site: &SiteCode, ward: &WardCode) -> Option<&WardSpec> {
        self.site(site)?.1.wards.iter().find(|w| &w.code == ward)
    }

    /// What the catalogue says about a bed, or `None` when there is no such bed.
    pub fn bed(&self, address: &BedAddress) -> Option<CatalogueBed> {
        let ward = self.ward(&address.site, &address.ward)?;
        let code = address.bed.as_str();
        let (escalation, number) = match code.split_at_checked(1)? {
            ("B", n) => (false, n),
            ("E", n) => (true, n),
            _ => return None,
        };
        // Only the canonical zero-padded spelling names a bed.
        let n: u16 = number.parse().ok()?;
        let count = if escalation {
            ward.escalation_beds
        } else {
            ward.beds
        };
        if n == 0 || n > count || code != bed_code(escalation, n, count).as_str() {
            return None;
        }
        Some(CatalogueBed {
            address: address.clone(),
            kind: ward.kind,
            escalation,
        })
    }

    /// Every bed of the catalogue, core and escalation.
    pub fn beds(&self) -> Vec<CatalogueBed> {
        let mut beds = Vec::new();
        for site in self.sites() {
            for ward in &site.wards {
                for (escalation, count) in [(false, ward.beds), (true, ward.escalation_beds)] {
                    for n in 1..=count {
                        beds.push(CatalogueBed {
                            address: BedAddress {
                                site: site.code.clone(),
                                ward: ward.code.clone(),
                                bed: bed_code(escalation, n, count),
                            },
                            kind: ward.kind,
                            escalation,
                        });
                    }
                }
            }
        }
        beds
    }

    /// Site names by code, for display.
    pub fn site_names(&self) -> HashMap<SiteCode, String> {
        self.sites()
            .map(|s| (s.code.clone(), s.name.clone()))
            .collect()
    }
}

/// The code of the `n`th core or escalation bed of a ward with `count` such
/// beds: at least two digits, more for large wards (`B01`, `B001`).
pub fn bed_code(escalation: bool, n: u16, count: u16) -> BedCode {
    let width = count.to_string().len().max(2);
    let prefix = if escalation { 'E' } else { 'B' };
    // Always valid: a letter followed by digits.
    BedCode::parse(&format!("{prefix}{n:0width$}")).unwrap_or_else(|_| unreachable!())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"{
      "region": "Test",
      "trusts": [{ "code": "RWE", "name": "Test Trust", "short_name": "TT", "sites": [
        { "code": "RWEAA", "name": "Test Royal", "kind": "acute", "locality": "Leicester City",
          "postcode": "LE1 5WW", "wards": [
            { "code": "WD1", "name": "Ward 1", "kind": "general_acute", "beds": 12, "escalation_beds": 2 }
        ] }
      ] }]
    }"#;

    #[test]
    fn beds_are_numbered_and_looked_up() {
        let catalogue = Catalogue::from_json(SMALL).expect("valid");
        let beds = catalogue.beds();
        assert_eq!(beds.len(), 14);
        assert_eq!(beds[0].address.to_string(), "RWEAA/WD1/B01");
        assert_eq!(beds[13].address.to_string(), "RWEAA/WD1/E02");
        let e2 = BedAddress::parse("RWEAA", "WD1", "E02").expect("valid");
        assert!(catalogue.bed(&e2).expect("exists").escalation);
        for missing in ["B13", "E03", "B00", "B1", "X01", "B"] {
            let address = BedAddress::parse("RWEAA", "WD1", missing).expect("valid");
            assert_eq!(catalogue.bed(&address), None, "{missing}");
        }
    }

    #[test]
    fn duplicate_sites_are_refused() {
        let doubled = SMALL.replace(
            "\"sites\": [",
            "\"sites\": [{ \"code\": \"RWEAA\", \"name\": \"x\", \"kind\": \"acute\", \"locality\": \"x\", \"postcode\": \"x\", \"wards\": [] },",
        );
        assert!(matches!(
            Catalogue::from_json(&doubled),
            Err(CatalogueError::Duplicate(_))
        ));
    }

    #[test]
    fn the_llr_catalogue_loads() {
        let catalogue = Catalogue::llr().expect("the shipped catalogue is valid");
        assert!(catalogue.sites().count() >= 3);
        let lri = SiteCode::parse("RWEAA").expect("valid");
        let (_, site) = catalogue.site(&lri).expect("LRI");
        assert_eq!(site.name, "Leicester Royal Infirmary");
        assert_eq!(
            (site.locality.as_str(), site.locality_name.as_str()),
            ("leicester_city", "Leicester City")
        );
    }

    fn region() -> Region {
        Region::from_json(
            "region.json",
            r#"{ "ics": { "code": "QZZ", "name": "Test Shire", "short_name": "TS ICB" },
                 "example_postcode": "ZZ1 1AA",
                 "localities": [{ "code": "north", "name": "North Vale", "postcode_districts": [
                   { "district": "ZZ1", "latitude": 54.0, "longitude": -2.0 }] }] }"#,
        )
        .expect("valid region")
    }

    #[test]
    fn sites_lie_in_a_locality_of_their_region() {
        let north = SMALL.replace("Leicester City", "north");
        let catalogue = Catalogue::for_region("sites.json", &north, &region()).expect("valid");
        let site = catalogue.sites().next().expect("a site");
        assert_eq!(site.locality_name, "North Vale");
        // A locality's name is accepted and becomes its code.
        let named = SMALL.replace("Leicester City", "North Vale");
        let catalogue = Catalogue::for_region("sites.json", &named, &region()).expect("valid");
        assert_eq!(catalogue.sites().next().expect("a site").locality, "north");
        let unknown = Catalogue::for_region("sites.json", SMALL, &region())
            .expect_err("Leicester City is not in Test Shire")
            .to_string();
        assert_eq!(
            unknown,
            "sites.json: site RWEAA: lies in locality `Leicester City`, which the region does not have (its localities: north)"
        );
        let ward = r#"{ "code": "WD1", "name": "Ward 1", "kind": "general_acute", "beds": 12 }"#;
        let twice = north.replace(
            ward.trim_end_matches(" }"),
            &format!("{ward}, {}", ward.trim_end_matches(" }")),
        );
        let doubled = Catalogue::for_region("x/sites.json", &twice, &region())
            .expect_err("ward twice")
            .to_string();
        assert_eq!(
            doubled,
            "x/sites.json: the site catalogue lists ward RWEAA/WD1 twice"
        );
    }
}
