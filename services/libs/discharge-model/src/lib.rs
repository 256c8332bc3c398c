//! The discharge side of the domain: patients who no longer meet the
//! criteria to reside and wait to leave hospital.
//!
//! # Layout
//! - [`nhs_number`]: [`NhsNumber`], checked with its check digit, shown
//!   masked until a coordinator opens the patient.
//! - [`words`]: [`Pathway`], [`DischargeStatus`], [`Funding`],
//!   [`DelayReason`] and [`Destination`].
//! - [`identifiers`]: NHS numbers, dates and long digit runs in free text
//!   that care homes read, however they are written.
//! - [`postcode`]: where a search centres: the region's postcode districts.
//! - [`record`]: [`DischargeRecord`], a discharge's whole record and its
//!   conversion to and from the event payload (version 1 in the clear,
//!   version 2 with the patient's fields sealed: [`record::SealedPatient`]).
//! - [`referral`]: [`ReferralInput`], what a coordinator sends to put a
//!   patient on the list, checked into a record or plain-words problems.
#![forbid(unsafe_code)]

pub mod identifiers;
pub mod nhs_number;
pub mod postcode;
pub mod record;
pub mod referral;
pub mod words;

pub use identifiers::{Identifier, find_identifier, has_identifier};
pub use nhs_number::{NhsNumber, NhsNumberError};
pub use postcode::{Place, place_of};
pub use record::{DischargeRecord, PatientFields, SealedPatient, delay_days};
pub use referral::{ReferralInput, ReferralProblems};
pub use words::{DelayReason, Destination, DischargeStatus, Funding, Pathway};
