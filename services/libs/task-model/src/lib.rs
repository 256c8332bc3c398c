//! Tasks and actions: "who needs to do what next", built once.
//!
//! A discharge task for one waiting patient (transport, medicines to take
//! out, a package of care ...) and an action agreed on the system call are
//! the same thing: an [`Item`] with an [`Owner`], a due time and a state.
//! Producers decide every change here ([`change`]); the events carry the
//! item's whole record (`proto/patientflow/v1/tasks.proto`).
//!
//! # Layout
//! - [`item`]: [`Item`], [`ItemKind`], [`ItemState`], [`Owner`]; to and from
//!   the protobuf record; overdue.
//! - [`task_types`]: the configurable list of discharge task types.
//! - [`text`]: free text on items, refused when it holds an NHS number, a
//!   date or a long run of digits (the referral needs' detector).
//! - [`teams`]: an organisation's register of named teams.
//! - [`change`]: the changes (create, assign, due, done, cancel) and who
//!   may make them; every refusal is a sentence.
//! - [`cohort`]: waiting patients grouped by pathway and blocking reason,
//!   with the owner of each group and the task that blocks each patient.
//! - [`log`]: the day's actions as a CSV log.
#![forbid(unsafe_code)]

pub mod change;
pub mod cohort;
pub mod item;
pub mod log;
pub mod task_types;
pub mod teams;
pub mod text;

pub use change::{Change, ChangeRefused, NewItem, Visibility};
pub use cohort::{Cohort, CohortPatient, WaitingPatient, cohorts};
pub use item::{Item, ItemKind, ItemState, Owner, RecordError};
pub use task_types::{TaskType, TaskTypes};
pub use teams::{Team, TeamRegister, TeamsError};
pub use text::{TextError, checked_text};
