//! The hospital side of the domain: sites, wards, beds and their states.
//!
//! # Layout
//! - [`ids`]: [`SiteCode`], [`WardCode`], [`BedCode`] and [`BedAddress`],
//!   parsed once at the edge so an invalid identifier cannot travel further.
//! - [`bed`]: [`BedKind`], [`BedState`] and the transitions a bed may make.
//! - [`figures`]: [`BedFigures`] and [`Occupancy`], the one definition of
//!   bed figures and of occupancy (occupied ÷ usable beds), and
//!   [`GA_KINDS`], the kinds "G&A occupancy" covers.
//! - [`catalogue`]: the sites, wards and beds the platform knows, loaded from
//!   the region's data set (`sites.json`; the default region's is
//!   `data/regions/llr/sites.json`).
#![forbid(unsafe_code)]

pub mod bed;
pub mod catalogue;
pub mod figures;
pub mod ids;

pub use bed::{BedKind, BedState, TransitionError};
pub use catalogue::{Catalogue, CatalogueError, SiteKind, SiteSpec, TrustSpec, WardSpec};
pub use figures::{BedFigures, GA_KINDS, KindFigures, Occupancy};
pub use ids::{BedAddress, BedCode, IdError, SiteCode, WardCode};
