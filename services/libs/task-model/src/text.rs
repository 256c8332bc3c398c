//! Free text on tasks and actions. An action is shown on a shared wall and
//! a task to teams outside the hospital: text is refused when it holds an
//! NHS number, a date or a long run of digits, with the same detector as
//! the referral's care needs
//! ([`pf_discharge_model::identifiers::find_identifier`]).

use pf_discharge_model::identifiers::{Identifier, find_identifier};

/// The longest text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 300;

/// Why a text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Nothing written where something must be.
    #[error("{0} is empty; say in a few words what needs doing")]
    Empty(&'static str),
    /// Too long for a wall or a list.
    #[error("{field} is longer than {MAX_TEXT_CHARS} characters; keep it short")]
    TooLong {
        /// Which field.
        field: &'static str,
    },
    /// It would identify a patient on a shared screen.
    #[error(
        "{field} seems to hold {what}; tasks and actions are shared, so leave out NHS numbers, dates of birth and other identifiers"
    )]
    Identifying {
        /// Which field.
        field: &'static str,
        /// What was found, in words.
        what: &'static str,
    },
}

/// `text` trimmed, when it is short, not empty (unless `optional`) and
/// identifies nobody; `field` names it in the refusal.
pub fn checked_text(field: &'static str, text: &str, optional: bool) -> Result<String, TextError> {
    let text = text.trim();
    if text.is_empty() {
        return if optional {
            Ok(String::new())
        } else {
            Err(TextError::Empty(field))
        };
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(TextError::TooLong { field });
    }
    if let Some(found) = find_identifier(text) {
        let what = match found {
            Identifier::NhsNumber => "an NHS number",
            Identifier::Date => "a date",
            Identifier::DigitRun => "a long number",
        };
        return Err(TextError::Identifying { field, what });
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_refused_however_written() {
        for text in [
            "Chase transport for 943 476 5919",
            "Patient born 01/02/1950 needs a hoist",
            "Call 07700900123",
        ] {
            assert!(
                matches!(
                    checked_text("text", text, false),
                    Err(TextError::Identifying { .. })
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn plain_text_is_kept_trimmed() {
        assert_eq!(
            checked_text("text", "  Open 4 escalation beds at LRI ", false),
            Ok("Open 4 escalation beds at LRI".to_owned())
        );
        assert_eq!(checked_text("note", " ", true), Ok(String::new()));
        assert_eq!(
            checked_text("text", " ", false),
            Err(TextError::Empty("text"))
        );
    }
}
