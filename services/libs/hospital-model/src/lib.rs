//! The hospital side of the domain: sites, wards, beds and their states.
//!
//! # Layout
//! - [`ids`]: [`SiteCode`], [`WardCode`], [`BedCode`] and [`BedAddress`],
//!   parsed once at the edge so an invalid identifier cannot travel further.
//! - [`bed`]: [`BedKind`], [`BedState`] and the transitions a bed may make.
//! - [`catalogue`]: the sites, wards and beds the platform knows, loaded from
//!   the region's data set (`sites.json`; the default region's is
//!   `data/regions/llr/sites.json`).
#![forbid(unsafe_code)]

pub mod bed;
pub mod catalogue;
pub mod ids;

pub use bed::{BedKind, BedState, TransitionError};
pub use catalogue::{Catalogue, CatalogueError, SiteKind, SiteSpec, TrustSpec, WardSpec};
pub use ids::{BedAddress, BedCode, IdError, SiteCode, WardCode};
