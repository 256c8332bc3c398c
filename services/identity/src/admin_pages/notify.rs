//! Delivering sign-in links through GOV.UK Notify, the UK public sector's
//! notification service: an email (`POST /v2/notifications/email`) or a
//! text message (`POST /v2/notifications/sms`), authenticated as Notify
//! documents with a bearer JWT (HS256, `iss` the service id, `iat` now)
//! signed with the API key's secret.
//!
//! Configured by `PF_NOTIFY_API_KEY` (or `PF_NOTIFY_API_KEY_FILE`), the
//! template ids `PF_NOTIFY_EMAIL_TEMPLATE_ID` and `PF_NOTIFY_SMS_TEMPLATE_ID`
//! (each template has the placeholders `((name))`, `((link))` and
//! `((expires))`), and `PF_NOTIFY_BASE_URL` (default Notify's own). Without
//! a key, links are shown to copy instead.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::json;

/// Notify's API.
pub const DEFAULT_BASE_URL: &str = "https://api.notifications.service.gov.uk";

/// Notify is configured wrongly, or refused or failed a message.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The API key is not in Notify's form (`{name}-{service id}-{secret}`).
    #[error(
        "PF_NOTIFY_API_KEY is not a GOV.UK Notify API key (it ends with the service id and the secret, two UUIDs)"
    )]
    BadKey,
    /// A setting is missing or wrong.
    #[error("{0}")]
    Setting(String),
    /// The address or number was refused before sending.
    #[error("{0}")]
    Invalid(String),
    /// Notify could not be reached.
    #[error("GOV.UK Notify could not be reached: {0}")]
    Unreachable(String),
    /// Notify refused the message (its status and first error).
    #[error("GOV.UK Notify refused the message ({status}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// Notify's first error message.
        message: String,
    },
    /// The token could not be signed.
    #[error("the request to GOV.UK Notify could not be signed: {0}")]
    Token(#[from] jsonwebtoken::errors::Error),
}

/// Notify's settings.
#[derive(Clone)]
pub struct NotifyConfig {
    /// Notify's API base URL (no trailing `/`).
    pub base_url: String,
    /// The service id (from the key).
    service_id: String,
    /// The secret (from the key).
    secret: String,
    /// The email template's id.
    pub email_template_id: Option<String>,
    /// The text-message template's id.
    pub sms_template_id: Option<String>,
}

impl std::fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("base_url", &self.base_url)
            .field("service_id", &self.service_id)
            .field("secret", &"[redacted]")
            .field("email_template_id", &self.email_template_id)
            .field("sms_template_id", &self.sms_template_id)
            .finish()
    }
}

fn is_uuid(value: &str) -> bool {
    value.len() == 36
        && value.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

impl NotifyConfig {
    /// From an API key as Notify gives it, and the template ids.
    pub fn new(
        base_url: &str,
        api_key: &str,
        email_template_id: Option<String>,
        sms_template_id: Option<String>,
    ) -> Result<Self, NotifyError> {
        let key = api_key.trim();
        // `{name}-{service id (36)}-{secret (36)}`.
        if key.len() < 74 || !key.is_char_boundary(key.len() - 73) {
            return Err(NotifyError::BadKey);
        }
        let secret = &key[key.len() - 36..];
        let service_id = &key[key.len() - 73..key.len() - 37];
        if !is_uuid(secret) || !is_uuid(service_id) {
            return Err(NotifyError::BadKey);
        }
        for id in email_template_id.iter().chain(sms_template_id.iter()) {
            if !is_uuid(id) {
                return Err(NotifyError::Setting(format!(
                    "A GOV.UK Notify template id is a UUID, not `{id}`"
                )));
            }
        }
        if email_template_id.is_none() && sms_template_id.is_none() {
            return Err(NotifyError::Setting(
                "Set PF_NOTIFY_EMAIL_TEMPLATE_ID or PF_NOTIFY_SMS_TEMPLATE_ID (or both) with PF_NOTIFY_API_KEY"
                    .to_owned(),
            ));
        }
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            service_id: service_id.to_owned(),
            secret: secret.to_owned(),
            email_template_id,
            sms_template_id,
        })
    }

    /// From the environment; `None` without `PF_NOTIFY_API_KEY`.
    pub fn from_env() -> Result<Option<Self>, NotifyError> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let key = match (var("PF_NOTIFY_API_KEY"), var("PF_NOTIFY_API_KEY_FILE")) {
            (Some(key), _) => key,
            (None, Some(file)) => std::fs::read_to_string(&file)
                .map_err(|err| {
                    NotifyError::Setting(format!(
                        "PF_NOTIFY_API_KEY_FILE {file} cannot be read: {err}"
                    ))
                })?
                .trim()
                .to_owned(),
            (None, None) => return Ok(None),
        };
        Self::new(
            &var("PF_NOTIFY_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
            &key,
            var("PF_NOTIFY_EMAIL_TEMPLATE_ID"),
            var("PF_NOTIFY_SMS_TEMPLATE_ID"),
        )
        .map(Some)
    }
}

/// How a link goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// By email to this address.
    Email(String),
    /// By text message to this UK mobile number.
    Sms(String),
}

impl Recipient {
    /// An email address or a phone number as typed, or why it cannot be
    /// used.
    pub fn parse(value: &str) -> Result<Self, NotifyError> {
        let value = value.trim();
        if value.contains('@') {
            let (local, domain) = value.split_once('@').unwrap_or_default();
            if local.is_empty() || !domain.contains('.') || value.contains(char::is_whitespace) {
                return Err(NotifyError::Invalid(format!(
                    "{value} is not an email address, like name@example.nhs.uk"
                )));
            }
            return Ok(Recipient::Email(value.to_owned()));
        }
        let digits: String = value
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
            .collect();
        let national = digits
            .strip_prefix("+44")
            .map(|rest| format!("0{rest}"))
            .unwrap_or(digits);
        if national.len() == 11
            && national.starts_with("07")
            && national.bytes().all(|b| b.is_ascii_digit())
        {
            Ok(Recipient::Sms(national))
        } else {
            Err(NotifyError::Invalid(format!(
                "{value} is not an email address or a UK mobile number, like 07700 900123"
            )))
        }
    }

    /// How it was delivered, in words (for the register of links).
    pub fn describe(&self) -> String {
        match self {
            Recipient::Email(address) => format!("Email to {address}"),
            Recipient::Sms(number) => format!("Text message to {number}"),
        }
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
}

/// A GOV.UK Notify client.
#[derive(Clone, Debug)]
pub struct NotifyClient {
    config: NotifyConfig,
    http: reqwest::Client,
}

impl NotifyClient {
    /// A client with these settings.
    pub fn new(config: NotifyConfig) -> Result<Self, NotifyError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|err| NotifyError::Setting(err.to_string()))?;
        Ok(Self { config, http })
    }

    /// Whether it can send to this kind of recipient.
    pub fn can_send(&self, recipient: &Recipient) -> bool {
        match recipient {
            Recipient::Email(_) => self.config.email_template_id.is_some(),
            Recipient::Sms(_) => self.config.sms_template_id.is_some(),
        }
    }

    /// The bearer token of one request.
    fn token(&self) -> Result<String, NotifyError> {
        let claims = Claims {
            iss: &self.config.service_id,
            iat: time::OffsetDateTime::now_utc().unix_timestamp(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(self.config.secret.as_bytes())?,
        )?)
    }

    /// Sends `link` to `recipient` with the person's `name` and when the
    /// link stops working (`expires`): Notify's notification id.
    pub async fn send_link(
        &self,
        recipient: &Recipient,
        name: &str,
        link: &str,
        expires: &str,
        reference: &str,
    ) -> Result<String, NotifyError> {
        let personalisation = json!({ "name": name, "link": link, "expires": expires });
        let (path, body) = match recipient {
            Recipient::Email(address) => (
                "/v2/notifications/email",
                json!({
                    "email_address": address,
                    "template_id": self.config.email_template_id,
                    "personalisation": personalisation,
                    "reference": reference,
                }),
            ),
            Recipient::Sms(number) => (
                "/v2/notifications/sms",
                json!({
                    "phone_number": number,
                    "template_id": self.config.sms_template_id,
                    "personalisation": personalisation,
                    "reference": reference,
                }),
            ),
        };
        if !self.can_send(recipient) {
            return Err(NotifyError::Setting(
                "No GOV.UK Notify template is set up for this kind of message".to_owned(),
            ));
        }
        let response = self
            .http
            .post(format!("{}{path}", self.config.base_url))
            .bearer_auth(self.token()?)
            .json(&body)
            .send()
            .await
            .map_err(|err| NotifyError::Unreachable(err.without_url().to_string()))?;
        let status = response.status();
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            let message = answer["errors"][0]["message"]
                .as_str()
                .unwrap_or("no reason given")
                .to_owned();
            return Err(NotifyError::Refused {
                status: status.as_u16(),
                message,
            });
        }
        Ok(answer["id"].as_str().unwrap_or_default().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "patient_flow_test-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0";

    #[test]
    fn the_key_carries_the_service_id_and_secret() {
        let config = NotifyConfig::new(
            "http://x/",
            KEY,
            Some("f33517ff-2a88-4f6e-b855-c550268ce08a".into()),
            None,
        )
        .expect("valid");
        assert_eq!(config.service_id, "26785a09-ab16-4eb0-8407-a37497a57506");
        assert_eq!(config.secret, "3d844edf-8d35-48ac-975b-e847b4f122b0");
        assert_eq!(config.base_url, "http://x");
        assert!(!format!("{config:?}").contains(&config.secret));
        assert!(NotifyConfig::new("http://x", "short", None, None).is_err());
        assert!(NotifyConfig::new("http://x", KEY, None, None).is_err());
    }

    #[test]
    fn recipients_are_emails_or_uk_mobiles() {
        assert_eq!(
            Recipient::parse(" jo@example.nhs.uk ").ok(),
            Some(Recipient::Email("jo@example.nhs.uk".into()))
        );
        assert_eq!(
            Recipient::parse("+44 7700 900123").ok(),
            Some(Recipient::Sms("07700900123".into()))
        );
        assert!(Recipient::parse("0116 123 4567").is_err());
        assert!(Recipient::parse("jo@nowhere").is_err());
    }
}
