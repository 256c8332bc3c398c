//! Settings from the environment, with local defaults.

use std::str::FromStr;

/// A setting in the environment could not be read.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}={value:?} is not valid: {cause}")]
pub struct ConfigError {
    /// The variable.
    pub name: String,
    /// Its value.
    pub value: String,
    /// Why it was refused.
    pub cause: String,
}

/// Reads `name` from the environment, or `default` when it is unset or empty.
pub fn env_or<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => {
            value.trim().parse().map_err(|e: T::Err| ConfigError {
                name: name.to_owned(),
                value,
                cause: e.to_string(),
            })
        }
        _ => Ok(default),
    }
}
