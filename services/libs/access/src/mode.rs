//! Whether the platform runs for real ([`Mode::Production`]) or as a demo on
//! a laptop ([`Mode::Development`]), read from `PF_MODE`.
//!
//! Demo conveniences (the built-in identity provider and its demo users) are
//! refused in production. A misspelt `PF_MODE` is an error rather than a
//! silent fall-back to development.

use std::fmt;

/// The environment variable that sets the mode.
pub const MODE_ENV: &str = "PF_MODE";

/// How the platform runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Local or demo use; the default when `PF_MODE` is unset.
    #[default]
    Development,
    /// Real patients' data: no demo identity provider, no demo users.
    Production,
}

/// A `PF_MODE` value we do not understand.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{MODE_ENV}=`{0}` is not a mode; use `development` or `production`")]
pub struct ModeError(pub String);

impl Mode {
    /// Parses `development`/`dev` or `production`/`prod` (any case).
    pub fn parse(value: &str) -> Result<Self, ModeError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Mode::Development),
            "production" | "prod" => Ok(Mode::Production),
            _ => Err(ModeError(value.to_owned())),
        }
    }

    /// The mode from `PF_MODE`; development when unset or empty.
    pub fn from_env() -> Result<Self, ModeError> {
        Self::from_value(std::env::var(MODE_ENV).ok().as_deref())
    }

    /// The mode from an optional `PF_MODE` value; development when absent or empty.
    pub fn from_value(value: Option<&str>) -> Result<Self, ModeError> {
        match value.map(str::trim) {
            None | Some("") => Ok(Mode::Development),
            Some(value) => Self::parse(value),
        }
    }

    /// Whether this is production.
    pub fn is_production(self) -> bool {
        self == Mode::Production
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Development => "development",
            Mode::Production => "production",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_typos_are_errors() {
        assert_eq!(Mode::from_value(None), Ok(Mode::Development));
        assert_eq!(Mode::from_value(Some(" ")), Ok(Mode::Development));
        assert_eq!(Mode::from_value(Some("Production")), Ok(Mode::Production));
        assert_eq!(Mode::from_value(Some("dev")), Ok(Mode::Development));
        assert!(Mode::from_value(Some("prodution")).is_err());
    }
}
