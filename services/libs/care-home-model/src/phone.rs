//! A care home's telephone number: checked when the register is read,
//! written for reading (`0116 496 0123`) and as a `tel:` link.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A telephone number that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a UK telephone number: use digits and spaces only, starting with 0 or +44 (for example 0116 496 0123)"
)]
pub struct PhoneError(pub String);

/// A UK telephone number, kept as its national digits (`01164960123`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Reads a number written with digits and spaces, optionally starting
    /// with `+44` in place of the leading 0.
    pub fn parse(text: &str) -> Result<Self, PhoneError> {
        let bad = || PhoneError(text.to_owned());
        let trimmed = text.trim();
        let (international, rest) = match trimmed.strip_prefix("+44") {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        if !rest.chars().all(|c| c.is_ascii_digit() || c == ' ') {
            return Err(bad());
        }
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        let national = if international {
            if digits.starts_with('0') {
                return Err(bad());
            }
            format!("0{digits}")
        } else {
            digits
        };
        if !national.starts_with('0') || !(10..=11).contains(&national.len()) {
            return Err(bad());
        }
        Ok(Self(national))
    }

    /// The national digits, no spaces (`01164960123`).
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// A `tel:` link in international form (`tel:+441164960123`).
    pub fn tel_uri(&self) -> String {
        format!("tel:+44{}", &self.0[1..])
    }

    /// Spaced for reading, as the number is usually written: `020 7946
    /// 0000`, `0116 496 0123` (and other 011x, 01x1, 03, 08, 09 numbers),
    /// `01632 960123` (other area codes), `07700 900123`.
    pub fn spaced(&self) -> String {
        let d = self.0.as_str();
        let groups: &[usize] = if d.len() != 11 {
            &[5]
        } else if d.starts_with("02") {
            &[3, 7]
        } else if d.starts_with("011")
            || (d.starts_with("01") && d.as_bytes().get(3) == Some(&b'1'))
            || d.starts_with("03")
            || d.starts_with("08")
            || d.starts_with("09")
        {
            &[4, 7]
        } else {
            &[5]
        };
        let mut out = String::with_capacity(d.len() + 2);
        for (i, c) in d.chars().enumerate() {
            if groups.contains(&i) {
                out.push(' ');
            }
            out.push(c);
        }
        out
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spaced())
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = PhoneError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<PhoneNumber> for String {
    fn from(phone: PhoneNumber) -> Self {
        phone.spaced()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_with_digits_spaces_and_plus_44_are_read() {
        for text in [
            "0116 496 0123",
            "01164960123",
            "+44 116 496 0123",
            "+441164960123",
        ] {
            let phone = PhoneNumber::parse(text).expect(text);
            assert_eq!(phone.digits(), "01164960123", "{text}");
            assert_eq!(phone.spaced(), "0116 496 0123", "{text}");
            assert_eq!(phone.tel_uri(), "tel:+441164960123", "{text}");
        }
        let spaced = |t: &str| PhoneNumber::parse(t).expect(t).spaced();
        assert_eq!(spaced("02079460000"), "020 7946 0000");
        assert_eq!(spaced("01632960123"), "01632 960123");
        assert_eq!(spaced("07700900123"), "07700 900123");
    }

    #[test]
    fn anything_else_is_refused_in_words() {
        for text in [
            "",
            "0116-496-0123",
            "(0116) 496 0123",
            "+44 0116 496 0123",
            "+1 212 555 0100",
            "116 496 0123",
            "0116 496",
            "0116 496 0123 0000",
            "ring reception",
        ] {
            let refused = PhoneNumber::parse(text).expect_err(text);
            assert_eq!(
                refused.to_string(),
                format!(
                    "`{text}` is not a UK telephone number: use digits and spaces only, starting with 0 or +44 (for example 0116 496 0123)"
                )
            );
        }
    }
}
