//! An organisation's register of named teams: the teams items can be
//! given to ("Discharge Hub", "Site team"). Its administrator keeps it;
//! every change is an event carrying the whole register.

use pf_proto::v1;
use serde::{Deserialize, Serialize};

use crate::text::{TextError, checked_text};

/// Most teams one organisation registers.
pub const MAX_TEAMS: usize = 50;

/// One named team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    /// Short name, unique within the organisation.
    pub name: String,
    /// What it does.
    pub description: String,
}

/// An organisation's teams.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamRegister {
    /// ODS code.
    pub organisation: String,
    /// Its teams, in the order given.
    pub teams: Vec<Team>,
}

/// A register that cannot be kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TeamsError {
    /// A name or description breaks the text rules.
    #[error(transparent)]
    Text(#[from] TextError),
    /// Two teams with one name.
    #[error("there are two teams called {0}; each team needs its own name")]
    Repeated(String),
    /// Too many.
    #[error("an organisation can register at most {MAX_TEAMS} teams")]
    TooMany,
}

impl TeamRegister {
    /// A checked register for `organisation`.
    pub fn new(organisation: &str, teams: Vec<Team>) -> Result<Self, TeamsError> {
        if teams.len() > MAX_TEAMS {
            return Err(TeamsError::TooMany);
        }
        let mut checked: Vec<Team> = Vec::with_capacity(teams.len());
        for team in teams {
            let name = checked_text("team name", &team.name, false)?;
            if checked.iter().any(|t| t.name.eq_ignore_ascii_case(&name)) {
                return Err(TeamsError::Repeated(name));
            }
            let description = checked_text("team description", &team.description, true)?;
            checked.push(Team { name, description });
        }
        Ok(Self {
            organisation: organisation.to_owned(),
            teams: checked,
        })
    }

    /// The team with this name (any case).
    pub fn get(&self, name: &str) -> Option<&Team> {
        self.teams
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name.trim()))
    }

    /// The register as its event carries it.
    pub fn to_proto(&self) -> v1::TeamsChanged {
        v1::TeamsChanged {
            organisation: self.organisation.clone(),
            teams: self
                .teams
                .iter()
                .map(|t| v1::Team {
                    name: t.name.clone(),
                    description: t.description.clone(),
                })
                .collect(),
        }
    }

    /// The register an event carries (not checked again: it was when it
    /// was stored).
    pub fn from_proto(changed: &v1::TeamsChanged) -> Self {
        Self {
            organisation: changed.organisation.clone(),
            teams: changed
                .teams
                .iter()
                .map(|t| Team {
                    name: t.name.clone(),
                    description: t.description.clone(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(name: &str) -> Team {
        Team {
            name: name.into(),
            description: String::new(),
        }
    }

    #[test]
    fn names_are_unique_and_found_in_any_case() {
        let register =
            TeamRegister::new("RWE", vec![team("Discharge Hub"), team("Site team")]).expect("ok");
        assert!(register.get("discharge hub").is_some());
        assert_eq!(
            TeamRegister::new("RWE", vec![team("Hub"), team("HUB")]),
            Err(TeamsError::Repeated("HUB".into()))
        );
    }
}
