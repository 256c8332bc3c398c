//! The region a deployment serves, as data.
//!
//! Nothing about a particular Integrated Care System lives in code: its
//! code and name, its localities, the postcode districts placed in each,
//! its sites, care homes, OPEL configuration and daily discharge plan are
//! files of one data set, `data/regions/<region>/` (see
//! `data/regions/README.md`). Leicester, Leicestershire and Rutland
//! (`data/regions/llr/`) is built into the binaries and used when no other
//! data set is configured; `PF_REGION_DIR` names the directory of another.
//!
//! # Layout
//! - [`region`]: [`Region`] (`region.json`): the [`Ics`], its [`Locality`]s
//!   by [`LocalityCode`], the postcode districts placed in them and where a
//!   postcode lies ([`Region::place_of`], [`Place`]).
//! - [`files`]: [`RegionFiles`], where the data set is read from (the
//!   built-in default or a directory), one [`DataFile`] at a time, every
//!   error naming the file.
#![forbid(unsafe_code)]

pub mod files;
pub mod region;

pub use files::{DataFile, DataText, REGION_DIR_VAR, RegionFiles, from_env};
pub use region::{District, Ics, Locality, LocalityCode, Place, Region, normalise};

/// A region's data could not be read or does not hang together.
#[derive(Debug, thiserror::Error)]
pub enum RegionError {
    /// A file of the data set could not be read.
    #[error("could not read {file}: {cause}")]
    Io {
        /// Which file.
        file: String,
        /// Why.
        cause: std::io::Error,
    },
    /// A file is not valid JSON of its shape.
    #[error("{file} is not valid: {cause}")]
    Format {
        /// Which file.
        file: String,
        /// What the parser said (with line and column).
        cause: serde_json::Error,
    },
    /// An item of a file breaks a rule (a duplicate code, an unknown
    /// locality, a district in two localities, ...).
    #[error("{file}: {item}: {problem}")]
    Invalid {
        /// Which file.
        file: String,
        /// Which item (`locality rutland`, `site RWEAA`, `home 1-000000001`).
        item: String,
        /// What is wrong, in words.
        problem: String,
    },
    /// `PF_REGION_DIR` names something that is not a directory.
    #[error("{var}={path} is not a directory of region data files")]
    NotADirectory {
        /// The variable.
        var: &'static str,
        /// Its value.
        path: String,
    },
}

impl RegionError {
    /// An [`Invalid`](RegionError::Invalid) error.
    pub fn invalid(
        file: impl Into<String>,
        item: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        RegionError::Invalid {
            file: file.into(),
            item: item.into(),
            problem: problem.into(),
        }
    }
}
