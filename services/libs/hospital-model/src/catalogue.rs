//! The sites, wards and beds the platform knows about.
//!
//! Reference data, not events: which beds exist at each site and what kind
//! they are. Producers refuse events for beds that are not in it. The LLR
//! catalogue ships with the platform (`data/llr-sites.json`); another region
//! loads its own file.
//!
//! Beds are numbered within their ward: core beds `B01`…`Bnn`, escalation
//! beds `E01`…`Enn` (opened only under pressure and counted separately).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

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
    /// Local authority area: "Leicester City", "Leicestershire" or "Rutland".
    pub locality: String,
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
    /// The catalogue of Leicester, Leicestershire and Rutland that ships with
    /// the platform.
    pub fn llr() -> Result<Self, CatalogueError> {
        Self::from_json(include_str!("../data/llr-sites.json"))
    }

    /// Reads a catalogue from JSON and checks that it hangs together.
    pub fn from_json(json: &str) -> Result<Self, CatalogueError> {
        let catalogue: Catalogue = serde_json::from_str(json)?;
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
        assert_eq!(
            catalogue.site(&lri).expect("LRI").1.name,
            "Leicester Royal Infirmary"
        );
    }
}
