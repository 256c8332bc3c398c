//! NHS numbers: 10 digits, the last a check digit (modulus 11).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why text is not an NHS number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NhsNumberError {
    /// Not 10 digits (spaces allowed between).
    #[error("an NHS number is 10 digits, like 943 476 5919")]
    Shape,
    /// The check digit does not match: a typing mistake.
    #[error("this is not a valid NHS number: check it for a typing mistake")]
    CheckDigit,
}

/// A valid NHS number (10 digits, check digit correct).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NhsNumber(String);

/// The check digit of the first nine digits: `None` when it would be 10
/// (such numbers are never issued).
pub fn check_digit(first_nine: &[u8; 9]) -> Option<u8> {
    let sum: u32 = first_nine
        .iter()
        .zip((2..=10).rev())
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    match 11 - (sum % 11) {
        11 => Some(0),
        10 => None,
        n => u8::try_from(n).ok(),
    }
}

impl NhsNumber {
    /// Parses an NHS number, ignoring spaces and dashes.
    pub fn parse(text: &str) -> Result<Self, NhsNumberError> {
        let digits: Vec<u8> = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_digit(10).and_then(|d| u8::try_from(d).ok()))
            .collect::<Option<Vec<u8>>>()
            .ok_or(NhsNumberError::Shape)?;
        let digits: [u8; 10] = digits.try_into().map_err(|_| NhsNumberError::Shape)?;
        let mut first_nine = [0u8; 9];
        first_nine.copy_from_slice(&digits[..9]);
        if check_digit(&first_nine) != Some(digits[9]) {
            return Err(NhsNumberError::CheckDigit);
        }
        Ok(Self(digits.iter().map(|d| char::from(b'0' + d)).collect()))
    }

    /// The 10 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `943 476 5919`.
    pub fn spaced(&self) -> String {
        format!("{} {} {}", &self.0[..3], &self.0[3..6], &self.0[6..])
    }

    /// Shown until a coordinator opens the patient: `*** *** 5919`.
    pub fn masked(&self) -> String {
        format!("*** *** {}", &self.0[6..])
    }

    /// Whether it is in the range kept for testing (999 000 0000 to 999 999 9999).
    pub fn is_test_number(&self) -> bool {
        self.0.starts_with("999")
    }

    /// The `n`th valid test number (999 …), for demo data.
    pub fn test_number(n: u32) -> Self {
        let mut candidate = n;
        loop {
            let six = candidate % 1_000_000;
            let text = format!("999{six:06}");
            let mut first_nine = [0u8; 9];
            for (slot, c) in first_nine.iter_mut().zip(text.bytes()) {
                *slot = c - b'0';
            }
            if let Some(check) = check_digit(&first_nine) {
                return Self(format!("{text}{check}"));
            }
            candidate = (candidate + 1) % 1_000_000;
        }
    }
}

impl fmt::Display for NhsNumber {
    /// Masked: an NHS number is never printed whole by accident.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl TryFrom<String> for NhsNumber {
    type Error = NhsNumberError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<NhsNumber> for String {
    fn from(value: NhsNumber) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_digit_is_checked() {
        assert_eq!(
            NhsNumber::parse("943 476 5919").map(|n| n.spaced()),
            Ok("943 476 5919".into())
        );
        assert_eq!(
            NhsNumber::parse("9434765918"),
            Err(NhsNumberError::CheckDigit)
        );
        assert_eq!(NhsNumber::parse("94347659"), Err(NhsNumberError::Shape));
        assert_eq!(NhsNumber::parse("94347659ab"), Err(NhsNumberError::Shape));
        assert_eq!(
            NhsNumber::parse("9434765919").map(|n| n.masked()),
            Ok("*** *** 5919".into())
        );
        assert_eq!(
            format!("{}", NhsNumber::parse("9434765919").expect("valid")),
            "*** *** 5919"
        );
    }

    #[test]
    fn test_numbers_are_valid_and_in_the_test_range() {
        for n in [0, 1, 7, 12_345, 999_999] {
            let number = NhsNumber::test_number(n);
            assert!(number.is_test_number(), "{number:?}");
            assert_eq!(NhsNumber::parse(number.as_str()), Ok(number.clone()));
        }
    }
}
