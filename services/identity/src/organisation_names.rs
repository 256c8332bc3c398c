//! Organisation names for people to read: "Alder House (demo)", not
//! `1-000000001`. Care homes come from the region's care-home register
//! (`care-homes.json`), NHS trusts from its sites (`sites.json`); the region
//! is `PF_REGION_DIR`'s, else the built-in one. A code with no name is shown
//! as it is.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use pf_region::{DataFile, RegionFiles};

/// Names by organisation code (CQC location id or ODS code).
#[derive(Debug, Default)]
pub struct OrganisationNames {
    names: BTreeMap<String, String>,
}

impl OrganisationNames {
    /// The names of the region's organisations (empty when it cannot be read:
    /// then codes are shown, which is what the page showed before).
    pub fn of_region(files: &RegionFiles) -> Self {
        let mut names = BTreeMap::new();
        if let Ok(region) = files.region()
            && let Ok(register) = pf_care_home_model::Register::load(files, &region)
        {
            for home in register.homes() {
                names.insert(home.cqc_location_id.to_string(), home.name.clone());
            }
        }
        if let Ok(sites) = files.read(DataFile::Sites)
            && let Ok(value) = serde_json::from_str::<serde_json::Value>(&sites.text)
        {
            for trust in value["trusts"].as_array().into_iter().flatten() {
                if let (Some(code), Some(name)) = (trust["code"].as_str(), trust["name"].as_str()) {
                    names.insert(code.to_owned(), name.to_owned());
                }
            }
        }
        Self { names }
    }

    /// The name of `code`, or the code itself when it has none.
    pub fn name_of<'a>(&'a self, code: &'a str) -> &'a str {
        self.names.get(code).map_or(code, String::as_str)
    }
}

/// The names of this process's region (read once).
pub fn names() -> &'static OrganisationNames {
    static NAMES: OnceLock<OrganisationNames> = OnceLock::new();
    NAMES.get_or_init(|| {
        let files = RegionFiles::from_env().unwrap_or(RegionFiles::BuiltIn);
        OrganisationNames::of_region(&files)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn care_homes_and_trusts_have_their_names() {
        let names = OrganisationNames::of_region(&RegionFiles::BuiltIn);
        assert_eq!(names.name_of("1-000000001"), "Sandy House (demo)");
        assert_eq!(
            names.name_of("RWE"),
            "University Hospitals of Leicester NHS Trust"
        );
        assert_eq!(names.name_of("1-999"), "1-999");
    }
}
