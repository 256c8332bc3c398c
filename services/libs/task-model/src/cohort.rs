//! Cohorts: the waiting patients grouped by pathway and blocking reason
//! (why they still wait), each group with its owner, and for each patient
//! the task that blocks them.
//!
//! A patient's blocking task is their open blocking task due first. A
//! group's owner is the owner of most of its patients' blocking tasks (on a
//! tie, the owner of the longest-waiting patient's task); a group none of whose patients has one is
//! unowned, which is worth seeing too.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::item::{Item, ItemKind, ItemState, Owner};

/// A patient waiting for discharge, as cohorts need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingPatient {
    /// The discharge.
    pub discharge_id: String,
    /// Pathway, in words.
    pub pathway: String,
    /// Why they still wait, in words.
    pub reason: String,
    /// Days waiting.
    pub days_waiting: i64,
}

/// One patient in a cohort.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CohortPatient {
    /// The discharge.
    pub discharge_id: String,
    /// Days waiting.
    pub days_waiting: i64,
    /// The task that blocks them, if any.
    pub blocking_task: Option<Item>,
}

/// Patients of one pathway waiting for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cohort {
    /// Pathway, in words.
    pub pathway: String,
    /// Why they wait, in words.
    pub reason: String,
    /// Who owns the group (`None`: nobody yet).
    pub owner: Option<Owner>,
    /// Its patients, longest waiting first.
    pub patients: Vec<CohortPatient>,
}

/// The cohorts of `patients`, given every item (only open blocking discharge
/// tasks count), largest group first.
pub fn cohorts(patients: &[WaitingPatient], items: &[Item]) -> Vec<Cohort> {
    let mut blocking: BTreeMap<&str, &Item> = BTreeMap::new();
    for item in items
        .iter()
        .filter(|i| i.kind == ItemKind::DischargeTask && i.state == ItemState::Open && i.blocking)
    {
        let first = blocking.entry(item.discharge_id.as_str()).or_insert(item);
        if (item.due_ms, &item.item_id) < (first.due_ms, &first.item_id) {
            *first = item;
        }
    }
    let mut groups: BTreeMap<(&str, &str), Vec<CohortPatient>> = BTreeMap::new();
    for patient in patients {
        groups
            .entry((patient.pathway.as_str(), patient.reason.as_str()))
            .or_default()
            .push(CohortPatient {
                discharge_id: patient.discharge_id.clone(),
                days_waiting: patient.days_waiting,
                blocking_task: blocking
                    .get(patient.discharge_id.as_str())
                    .map(|i| (*i).clone()),
            });
    }
    let mut cohorts: Vec<Cohort> = groups
        .into_iter()
        .map(|((pathway, reason), mut patients)| {
            patients.sort_by(|a, b| {
                b.days_waiting
                    .cmp(&a.days_waiting)
                    .then_with(|| a.discharge_id.cmp(&b.discharge_id))
            });
            let mut counts: Vec<(&Owner, usize)> = Vec::new();
            for owner in patients
                .iter()
                .filter_map(|p| p.blocking_task.as_ref().map(|t| &t.owner))
            {
                match counts.iter_mut().find(|(o, _)| *o == owner) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((owner, 1)),
                }
            }
            let most = counts.iter().map(|(_, n)| *n).max().unwrap_or(0);
            let owner = counts
                .iter()
                .find(|(_, n)| *n == most)
                .map(|(o, _)| (*o).clone());
            Cohort {
                pathway: pathway.to_owned(),
                reason: reason.to_owned(),
                owner,
                patients,
            }
        })
        .collect();
    cohorts.sort_by(|a, b| {
        b.patients
            .len()
            .cmp(&a.patients.len())
            .then_with(|| (&a.pathway, &a.reason).cmp(&(&b.pathway, &b.reason)))
    });
    cohorts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient(id: &str, pathway: &str, reason: &str, days: i64) -> WaitingPatient {
        WaitingPatient {
            discharge_id: id.into(),
            pathway: pathway.into(),
            reason: reason.into(),
            days_waiting: days,
        }
    }

    fn task(id: &str, discharge: &str, team: &str, due: i64, blocking: bool) -> Item {
        Item {
            item_id: id.into(),
            kind: ItemKind::DischargeTask,
            task_type: "transport".into(),
            text: String::new(),
            owner: Owner {
                organisation: "RWE".into(),
                person: None,
                team: Some(team.into()),
                display: team.into(),
            },
            due_ms: due,
            state: ItemState::Open,
            discharge_id: discharge.into(),
            managed_by: "RWE".into(),
            blocking,
            created_by: String::new(),
            created_ms: 0,
            closed_by: String::new(),
            closed_ms: 0,
            closing_note: String::new(),
        }
    }

    #[test]
    fn groups_by_pathway_and_reason_with_owner_and_blocking_task() {
        let patients = [
            patient("a", "Pathway 1", "Awaiting package of care", 5),
            patient("b", "Pathway 1", "Awaiting package of care", 9),
            patient("c", "Pathway 3", "Awaiting care home", 2),
        ];
        let items = [
            task("t1", "a", "Hub", 20, true),
            task("t2", "a", "Pharmacy", 10, true),
            task("t3", "b", "Hub", 5, true),
            task("t4", "c", "Hub", 1, false),
        ];
        let cohorts = cohorts(&patients, &items);
        assert_eq!(cohorts.len(), 2);
        let first = &cohorts[0];
        assert_eq!(
            (first.pathway.as_str(), first.patients.len()),
            ("Pathway 1", 2)
        );
        assert_eq!(first.patients[0].discharge_id, "b", "longest waiting first");
        let blocking_a = first.patients[1]
            .blocking_task
            .as_ref()
            .expect("a is blocked");
        assert_eq!(blocking_a.item_id, "t2", "the blocking task due first");
        assert_eq!(
            first.owner.as_ref().map(|o| o.display.as_str()),
            Some("Hub"),
            "one each: the tie goes to the longest-waiting patient's task"
        );
        assert_eq!(cohorts[1].owner, None, "a non-blocking task owns nothing");
    }
}
