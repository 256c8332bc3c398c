//! The discharge task types: a configurable list, with the six every
//! discharge team knows as the default.

use serde::{Deserialize, Serialize};

/// One kind of discharge task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskType {
    /// Code in events and the API (`transport`): lower-case letters, digits
    /// and `_`.
    pub code: String,
    /// In words on the pages ("Transport booked").
    pub label: String,
    /// Whether a patient cannot leave until it is done, unless the task
    /// says otherwise.
    pub blocking: bool,
}

/// The task types in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskTypes(Vec<TaskType>);

/// A task-type list that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskTypesError {
    /// Not the JSON shape expected.
    #[error("the task types are not a JSON list of {{code, label, blocking}}: {0}")]
    Unreadable(String),
    /// A code that is empty, repeated or not letters, digits and `_`.
    #[error("task type code `{0}` must be unique lower-case letters, digits and _")]
    BadCode(String),
    /// Nothing in it.
    #[error("the task types list is empty")]
    Empty,
}

impl Default for TaskTypes {
    fn default() -> Self {
        let t = |code: &str, label: &str| TaskType {
            code: code.to_owned(),
            label: label.to_owned(),
            blocking: true,
        };
        Self(vec![
            t("medicines_tto", "Medicines to take out"),
            t("transport", "Transport"),
            t("package_of_care", "Package of care"),
            t("equipment", "Equipment"),
            t("toc_hub_referral", "Referral to the transfer of care hub"),
            t("care_home_assessment", "Care-home assessment"),
        ])
    }
}

impl TaskTypes {
    /// Reads a JSON list (`PF_TASK_TYPES`).
    pub fn from_json(text: &str) -> Result<Self, TaskTypesError> {
        let types: Vec<TaskType> =
            serde_json::from_str(text).map_err(|e| TaskTypesError::Unreadable(e.to_string()))?;
        Self::new(types)
    }

    /// Checks a list.
    pub fn new(types: Vec<TaskType>) -> Result<Self, TaskTypesError> {
        if types.is_empty() {
            return Err(TaskTypesError::Empty);
        }
        for (i, t) in types.iter().enumerate() {
            let good = !t.code.is_empty()
                && t.code.len() <= 40
                && t.code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && !types[..i].iter().any(|o| o.code == t.code);
            if !good {
                return Err(TaskTypesError::BadCode(t.code.clone()));
            }
        }
        Ok(Self(types))
    }

    /// The type with this code.
    pub fn get(&self, code: &str) -> Option<&TaskType> {
        self.0.iter().find(|t| t.code == code)
    }

    /// Every type, in the configured order.
    pub fn all(&self) -> &[TaskType] {
        &self.0
    }

    /// The label of `code` (the code itself when it is no longer listed).
    pub fn label<'a>(&'a self, code: &'a str) -> &'a str {
        self.get(code).map_or(code, |t| t.label.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_list_holds_the_six() {
        let types = TaskTypes::default();
        assert_eq!(types.all().len(), 6);
        assert_eq!(types.label("transport"), "Transport");
    }

    #[test]
    fn a_configured_list_is_checked() {
        let ok =
            TaskTypes::from_json(r#"[{"code":"oxygen","label":"Home oxygen","blocking":true}]"#)
                .expect("valid list");
        assert!(ok.get("oxygen").is_some());
        assert!(matches!(
            TaskTypes::from_json(r#"[{"code":"Bad Code","label":"x","blocking":false}]"#),
            Err(TaskTypesError::BadCode(_))
        ));
        assert_eq!(TaskTypes::from_json("[]"), Err(TaskTypesError::Empty));
    }
}
