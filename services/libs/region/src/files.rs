//! Where a region's data set is read from: the built-in default (LLR,
//! `data/regions/llr/`) or the directory `PF_REGION_DIR` names.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::{Region, RegionError};

/// The environment variable naming the directory of the region's data set.
pub const REGION_DIR_VAR: &str = "PF_REGION_DIR";

/// One file of a region's data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFile {
    /// `region.json`: the ICS, localities, postcode districts.
    Region,
    /// `sites.json`: trusts, sites, wards and bed counts.
    Sites,
    /// `care-homes.json`: the register of care homes.
    CareHomes,
    /// `opel.json`: OPEL parameters, weights and thresholds.
    Opel,
    /// `expected-discharges.json`: the daily discharge plan per site.
    ExpectedDischarges,
}

impl DataFile {
    /// Every file, in the order `data/regions/README.md` describes them.
    pub const ALL: [DataFile; 5] = [
        DataFile::Region,
        DataFile::Sites,
        DataFile::CareHomes,
        DataFile::Opel,
        DataFile::ExpectedDischarges,
    ];

    /// Its file name within the data set's directory.
    pub fn file_name(self) -> &'static str {
        match self {
            DataFile::Region => "region.json",
            DataFile::Sites => "sites.json",
            DataFile::CareHomes => "care-homes.json",
            DataFile::Opel => "opel.json",
            DataFile::ExpectedDischarges => "expected-discharges.json",
        }
    }

    /// The built-in default's copy of the file.
    fn built_in(self) -> &'static str {
        match self {
            DataFile::Region => include_str!("../../../../data/regions/llr/region.json"),
            DataFile::Sites => include_str!("../../../../data/regions/llr/sites.json"),
            DataFile::CareHomes => include_str!("../../../../data/regions/llr/care-homes.json"),
            DataFile::Opel => include_str!("../../../../data/regions/llr/opel.json"),
            DataFile::ExpectedDischarges => {
                include_str!("../../../../data/regions/llr/expected-discharges.json")
            }
        }
    }
}

/// The text of one data file and the name to give it in errors.
#[derive(Debug, Clone)]
pub struct DataText {
    /// `data/regions/llr/sites.json (built in)` or the file's path.
    pub name: String,
    /// Its content.
    pub text: Cow<'static, str>,
}

/// Where the region's data set is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RegionFiles {
    /// The data set built into the binaries: Leicester, Leicestershire and
    /// Rutland (`data/regions/llr/`).
    #[default]
    BuiltIn,
    /// A directory holding the data set's files.
    Dir(PathBuf),
}

impl RegionFiles {
    /// `PF_REGION_DIR` if set (it must be a directory), else the built-in
    /// data set.
    pub fn from_env() -> Result<Self, RegionError> {
        Self::from_value(std::env::var_os(REGION_DIR_VAR).map(PathBuf::from))
    }

    /// As [`from_env`](Self::from_env), from the variable's value.
    pub fn from_value(value: Option<PathBuf>) -> Result<Self, RegionError> {
        match value {
            None => Ok(RegionFiles::BuiltIn),
            Some(path) if path.as_os_str().is_empty() => Ok(RegionFiles::BuiltIn),
            Some(path) if path.is_dir() => Ok(RegionFiles::Dir(path)),
            Some(path) => Err(RegionError::NotADirectory {
                var: REGION_DIR_VAR,
                path: path.display().to_string(),
            }),
        }
    }

    /// The data set in `dir`.
    pub fn dir(dir: impl AsRef<Path>) -> Self {
        RegionFiles::Dir(dir.as_ref().to_owned())
    }

    /// Where the data set is, for logs.
    pub fn describe(&self) -> String {
        match self {
            RegionFiles::BuiltIn => "data/regions/llr (built in)".to_owned(),
            RegionFiles::Dir(dir) => dir.display().to_string(),
        }
    }

    /// The text of one file of the data set.
    pub fn read(&self, file: DataFile) -> Result<DataText, RegionError> {
        match self {
            RegionFiles::BuiltIn => Ok(DataText {
                name: format!("data/regions/llr/{} (built in)", file.file_name()),
                text: Cow::Borrowed(file.built_in()),
            }),
            RegionFiles::Dir(dir) => {
                let path = dir.join(file.file_name());
                let name = path.display().to_string();
                let text = std::fs::read_to_string(&path).map_err(|cause| RegionError::Io {
                    file: name.clone(),
                    cause,
                })?;
                Ok(DataText {
                    name,
                    text: Cow::Owned(text),
                })
            }
        }
    }

    /// The region (`region.json`), checked.
    pub fn region(&self) -> Result<Region, RegionError> {
        let file = self.read(DataFile::Region)?;
        Region::from_json(&file.name, &file.text)
    }
}

/// The region data set `PF_REGION_DIR` names (the built-in default when it
/// is unset) and its region, checked.
pub fn from_env() -> Result<(RegionFiles, Region), RegionError> {
    let files = RegionFiles::from_env()?;
    let region = files.region()?;
    Ok((files, region))
}

impl Region {
    /// The built-in default region (Leicester, Leicestershire and Rutland),
    /// for local defaults and tests.
    ///
    /// # Panics
    /// Never: the built-in file is part of the binary and its tests load it.
    pub fn built_in() -> Region {
        RegionFiles::BuiltIn
            .region()
            .expect("the built-in region.json is valid (see its tests)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_region_is_leicester_leicestershire_and_rutland() {
        let region = RegionFiles::BuiltIn.region().expect("valid");
        assert_eq!(region.ics.code, "QK1");
        let codes: Vec<&str> = region.localities.iter().map(|l| l.code.as_str()).collect();
        assert_eq!(codes, ["leicester_city", "leicestershire", "rutland"]);
        // The districts the discharge search accepted when they were code.
        for district in [
            "LE1", "LE2", "LE3", "LE4", "LE5", "LE6", "LE7", "LE8", "LE9", "LE10", "LE11", "LE12",
            "LE13", "LE14", "LE15", "LE16", "LE17", "LE18", "LE19", "LE65", "LE67",
        ] {
            assert!(
                region.place_of(&format!("{district} 1AA")).is_some(),
                "{district}"
            );
        }
        assert!(region.place_of("NG7 2UH").is_none());
        assert_eq!(
            region.district_of("LE15 6AB").map(|(l, _)| l.name.as_str()),
            Some("Rutland")
        );
    }

    #[test]
    fn a_directory_is_read_file_by_file_and_errors_name_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let files = RegionFiles::from_value(Some(dir.path().to_owned())).expect("a directory");
        let missing = files.region().expect_err("no region.json yet").to_string();
        assert!(missing.contains("region.json"), "{missing}");
        std::fs::write(dir.path().join("region.json"), "{ not json").expect("write");
        let broken = files.region().expect_err("not JSON").to_string();
        assert!(
            broken.starts_with(&dir.path().join("region.json").display().to_string()),
            "{broken}"
        );
        let not_a_dir = dir.path().join("region.json");
        assert!(RegionFiles::from_value(Some(not_a_dir)).is_err());
        assert_eq!(
            RegionFiles::from_value(None).expect("default"),
            RegionFiles::BuiltIn
        );
    }
}
