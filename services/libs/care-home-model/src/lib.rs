//! The care-home side of the domain: homes, their vacancy categories and
//! the rules a vacancy report must meet.
//!
//! # Layout
//! - [`category`]: [`CareCategory`] (the national Capacity Tracker's
//!   categories), [`SexAccepted`], [`ClosureReason`]. Localities are the
//!   region's data ([`LocalityCode`], from `pf_region`), not a closed list.
//! - [`record`]: [`CareHomeRecord`], a home's registration and its current
//!   vacancies, and its conversion to and from the event payload.
//! - [`report`]: [`VacancyReport`], what a home tells us, and
//!   [`VacancyReport::check`], which names every problem in words a care-home
//!   manager understands.
//! - [`capacity_tracker`]: the national Capacity Tracker's vacancy figures
//!   (maximum capacity, occupied, vacant accepting admissions and reserved),
//!   how they line up with the record, their checks and the CSV export.
//! - [`phone`]: [`PhoneNumber`], a home's telephone number, checked and
//!   written for reading and as a `tel:` link.
//! - [`register`]: the register of homes, the `care-homes.json` of the
//!   region's data set (the default region's synthetic homes are
//!   `data/regions/llr/care-homes.json`), every home in one of its localities.
//! - [`cqc_import`]: homes from a CSV in the shape of CQC's download of
//!   active locations, checked row by row (a sample is
//!   `data/regions/llr/cqc-care-homes-sample.csv`).
#![forbid(unsafe_code)]

pub mod capacity_tracker;
pub mod category;
pub mod cqc_import;
pub mod phone;
pub mod record;
pub mod register;
pub mod report;

pub use capacity_tracker::{Capacity, CapacityTrackerInput, CategoryFigures, figure_field};
pub use category::{CareCategory, ClosureReason, SexAccepted, UnknownValue};
pub use pf_access::CqcLocationId;
pub use pf_region::LocalityCode;
pub use phone::{PhoneError, PhoneNumber};
pub use record::{
    CareHomeRecord, Confirmation, Hold, HoldState, PAYLOAD_VERSION, RecordError, Registration,
    Retirement, Vacancy, home_in, time_of,
};
pub use register::{Register, RegisterError};
pub use report::{
    Closure, FieldProblem, ReportInput, ReportProblems, VacancyInput, VacancyReport, field_name,
};
