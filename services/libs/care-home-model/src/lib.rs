//! The care-home side of the domain: homes, their vacancy categories and
//! the rules a vacancy report must meet.
//!
//! # Layout
//! - [`category`]: [`CareCategory`] (the national Capacity Tracker's
//!   categories), [`Locality`], [`SexAccepted`], [`ClosureReason`].
//! - [`record`]: [`CareHomeRecord`], a home's registration and its current
//!   vacancies, and its conversion to and from the event payload.
//! - [`report`]: [`VacancyReport`], what a home tells us, and
//!   [`VacancyReport::check`], which names every problem in words a care-home
//!   manager understands.
//! - [`register`]: the register of homes loaded from reference data (the
//!   synthetic LLR register ships in `data/llr-care-homes.json`).
#![forbid(unsafe_code)]

pub mod category;
pub mod record;
pub mod register;
pub mod report;

pub use category::{CareCategory, ClosureReason, Locality, SexAccepted, UnknownValue};
pub use pf_access::CqcLocationId;
pub use record::{
    CareHomeRecord, Confirmation, Hold, HoldState, RecordError, Registration, Vacancy, home_in,
    time_of,
};
pub use register::{Register, RegisterError};
pub use report::{
    Closure, FieldProblem, ReportInput, ReportProblems, VacancyInput, VacancyReport, field_name,
};
