//! Patient data kept only as long as needed: crypto-shredding.
//!
//! The event streams keep every event for replay. A discharge's
//! patient-identifiable fields (NHS number, search postcode and its place:
//! [`PatientFields`]) are therefore stored only sealed, with a data key of
//! that patient's own (one per discharge), and the key is destroyed once the
//! retention period after discharge or cancellation has passed. Every copy
//! of the event (the stream, its replicas and backups, the projection's
//! records in Redis) then holds ciphertext nobody can open, while the rest
//! of the record, and so every count, still replays.
//!
//! - Data keys are 256-bit random keys, stored in Redis under
//!   `{prefix}{discharge_id}` (default `pf-patient-key:`) wrapped
//!   (XChaCha20-Poly1305) with the master key, which never leaves the
//!   discharges service (`PF_PATIENT_MASTER_KEY_FILE`). A copy of Redis
//!   without the master key opens nothing.
//! - Fields are sealed with XChaCha20-Poly1305 (random 192-bit nonce) and
//!   the associated data `pf-patient/1/{discharge_id}`, so a sealed blob
//!   moved to another discharge does not open.
//! - [`PatientKeys::retain_until`] schedules a key's destruction (a sorted
//!   set `{prefix}shred` by time, and Redis' own expiry as a backstop);
//!   [`PatientKeys::shred_due`] destroys the keys whose time has come, by the
//!   caller's clock. A patient put back on the list keeps their key.
//!
//! # Layout
//! - [`MasterKey`]: the key-encrypting key, from a file or (development
//!   only) a fixed, publicly known one.
//! - [`PatientKeys`]: data keys in Redis: create, read, schedule, destroy.
//! - [`DataKey`]: seals and opens a record's [`PatientFields`].
#![forbid(unsafe_code)]

use std::path::Path;
use std::time::Duration;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use pf_discharge_model::{DischargeRecord, PatientFields, SealedPatient};
use pf_runtime::RedisConnection;
use rand::RngCore as _;
use redis::AsyncCommands as _;
use redis::aio::ConnectionManagerConfig;
use time::OffsetDateTime;

/// The one sealing scheme so far: XChaCha20-Poly1305.
pub const SCHEME_XCHACHA20_POLY1305: u32 = 1;

/// The default key prefix in Redis.
pub const DEFAULT_PREFIX: &str = "pf-patient-key:";

/// Why patient fields cannot be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Redis refused or could not be reached.
    #[error("patient key store: {0}")]
    Store(#[from] redis::RedisError),
    /// The master key file cannot be read or is not 64 hex digits.
    #[error("master key {path}: {cause}")]
    MasterKey {
        /// The file.
        path: String,
        /// What is wrong.
        cause: String,
    },
    /// A wrapped key or sealed field does not open with this master key or
    /// data key (another master key, or tampered with).
    #[error("{0} does not open with this key")]
    DoesNotOpen(&'static str),
    /// A sealed record of a scheme this code does not know.
    #[error("unknown sealing scheme {0}")]
    UnknownScheme(u32),
    /// The metric could not be made.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// The key-encrypting key: wraps every data key.
pub struct MasterKey(XChaCha20Poly1305);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([hidden])")
    }
}

impl MasterKey {
    /// From 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(XChaCha20Poly1305::new(bytes.into()))
    }

    /// From a file holding 64 hex digits (e.g. `openssl rand -hex 32`);
    /// surrounding white space is ignored.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let bad = |cause: String| KeyError::MasterKey {
            path: path.display().to_string(),
            cause,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let text = text.trim();
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("must hold 64 hex digits (32 bytes)".into()));
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte =
                u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|e| bad(e.to_string()))?;
        }
        Ok(Self::from_bytes(&bytes))
    }

    /// A fixed key, known to everyone who reads this source: for the
    /// development run and tests only (production refuses to start without
    /// `PF_PATIENT_MASTER_KEY_FILE`).
    pub fn development() -> Self {
        Self::from_bytes(b"patient-flow development only!!!")
    }

    fn wrap(&self, discharge_id: &str, key: &[u8; 32]) -> Vec<u8> {
        let nonce = random_nonce();
        let aad = format!("pf-patient-key/1/{discharge_id}");
        let mut out = nonce.to_vec();
        // Encryption with a valid key and nonce cannot fail for 32 bytes.
        if let Ok(ciphertext) = self.0.encrypt(
            &nonce,
            Payload {
                msg: key,
                aad: aad.as_bytes(),
            },
        ) {
            out.extend_from_slice(&ciphertext);
        }
        out
    }

    fn unwrap_key(&self, discharge_id: &str, wrapped: &[u8]) -> Result<DataKey, KeyError> {
        if wrapped.len() < 24 {
            return Err(KeyError::DoesNotOpen("a wrapped data key"));
        }
        let (nonce, ciphertext) = wrapped.split_at(24);
        let nonce =
            XNonce::try_from(nonce).map_err(|_| KeyError::DoesNotOpen("a wrapped data key"))?;
        let aad = format!("pf-patient-key/1/{discharge_id}");
        let key = self
            .0
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| KeyError::DoesNotOpen("a wrapped data key"))?;
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| KeyError::DoesNotOpen("a wrapped data key"))?;
        Ok(DataKey::new(discharge_id, &key))
    }
}

fn random_nonce() -> XNonce {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    XNonce::from(bytes)
}

/// One discharge's data key.
pub struct DataKey {
    cipher: XChaCha20Poly1305,
    aad: String,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([hidden])")
    }
}

impl DataKey {
    fn new(discharge_id: &str, key: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
            aad: format!("pf-patient/1/{discharge_id}"),
        }
    }

    /// Seals `fields`.
    pub fn seal(&self, fields: &PatientFields) -> SealedPatient {
        let nonce = random_nonce();
        let plaintext = serde_json::to_vec(fields).unwrap_or_default();
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &plaintext,
                    aad: self.aad.as_bytes(),
                },
            )
            .unwrap_or_default();
        SealedPatient {
            scheme: SCHEME_XCHACHA20_POLY1305,
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    /// Opens sealed fields.
    pub fn open(&self, sealed: &SealedPatient) -> Result<PatientFields, KeyError> {
        if sealed.scheme != SCHEME_XCHACHA20_POLY1305 {
            return Err(KeyError::UnknownScheme(sealed.scheme));
        }
        let nonce = XNonce::try_from(sealed.nonce.as_slice())
            .map_err(|_| KeyError::DoesNotOpen("sealed patient fields"))?;
        let plaintext = self
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed.ciphertext,
                    aad: self.aad.as_bytes(),
                },
            )
            .map_err(|_| KeyError::DoesNotOpen("sealed patient fields"))?;
        serde_json::from_slice(&plaintext)
            .map_err(|_| KeyError::DoesNotOpen("sealed patient fields"))
    }

    /// The record as stored: its patient fields sealed (version 2). A record
    /// already sealed, or with no fields in the clear, is returned as it is.
    pub fn seal_record(&self, record: DischargeRecord) -> DischargeRecord {
        match record.patient_fields() {
            Some(fields) => {
                let sealed = self.seal(&fields);
                record.sealed_with(sealed)
            }
            None => record,
        }
    }

    /// The record with its patient fields opened (version 1 records are
    /// returned as they are).
    pub fn open_record(&self, record: DischargeRecord) -> Result<DischargeRecord, KeyError> {
        match (&record.sealed, &record.nhs_number) {
            (Some(sealed), None) => {
                let fields = self.open(sealed)?;
                Ok(record.with_patient_fields(fields))
            }
            _ => Ok(record),
        }
    }
}

/// Patients' data keys in Redis.
#[derive(Clone)]
pub struct PatientKeys {
    redis: RedisConnection,
    prefix: String,
    master: std::sync::Arc<MasterKey>,
    shredded: prometheus::IntCounter,
}

impl PatientKeys {
    /// Connects to Redis at `url`, keys under `prefix`, wrapped with
    /// `master`; `pf_patient_keys_shredded_total` is registered in `registry`.
    pub async fn connect(
        url: &str,
        prefix: impl Into<String>,
        master: MasterKey,
        registry: &prometheus::Registry,
    ) -> Result<Self, KeyError> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_connection_timeout(Some(Duration::from_secs(5)));
        let redis = RedisConnection::connect(url, config).await?;
        let shredded = prometheus::IntCounter::new(
            "pf_patient_keys_shredded_total",
            "Patients' data keys destroyed at the end of the retention period",
        )
        .map_err(|e| {
            redis::RedisError::from((redis::ErrorKind::Client, "metrics", e.to_string()))
        })?;
        // A second registration (a test's second service) is no error.
        let _ = registry.register(Box::new(shredded.clone()));
        Ok(Self {
            redis,
            prefix: prefix.into(),
            master: std::sync::Arc::new(master),
            shredded,
        })
    }

    fn key_name(&self, discharge_id: &str) -> String {
        format!("{}{discharge_id}", self.prefix)
    }

    fn schedule_name(&self) -> String {
        format!("{}shred", self.prefix)
    }

    /// The discharge's data key, made now if it has none.
    #[tracing::instrument(skip(self))]
    pub async fn key_for(&self, discharge_id: &str) -> Result<DataKey, KeyError> {
        if let Some(key) = self.existing(discharge_id).await? {
            return Ok(key);
        }
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let wrapped = self.master.wrap(discharge_id, &key);
        let mut redis = self.redis.clone();
        // Two replicas making the first key at once: the first one stored wins.
        let _: bool = redis.set_nx(self.key_name(discharge_id), wrapped).await?;
        self.existing(discharge_id)
            .await?
            .ok_or(KeyError::DoesNotOpen("a data key just stored"))
    }

    /// The discharge's data key; `None` when it has none (never made, or
    /// destroyed after the retention period).
    pub async fn existing(&self, discharge_id: &str) -> Result<Option<DataKey>, KeyError> {
        let mut redis = self.redis.clone();
        let wrapped: Option<Vec<u8>> = redis.get(self.key_name(discharge_id)).await?;
        wrapped
            .map(|w| self.master.unwrap_key(discharge_id, &w))
            .transpose()
    }

    /// Opens every record it can: version 1 records as they are, sealed ones
    /// whose key still exists opened; those whose key is gone (past their
    /// retention) are left out.
    pub async fn open_all(
        &self,
        records: Vec<DischargeRecord>,
    ) -> Result<Vec<DischargeRecord>, KeyError> {
        let sealed: Vec<String> = records
            .iter()
            .filter(|r| r.nhs_number.is_none())
            .map(|r| self.key_name(&r.discharge_id))
            .collect();
        let mut wrapped: std::collections::HashMap<String, Vec<u8>> = Default::default();
        if !sealed.is_empty() {
            let mut redis = self.redis.clone();
            let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
                .arg(&sealed)
                .query_async(&mut redis)
                .await?;
            wrapped = sealed
                .into_iter()
                .zip(values)
                .filter_map(|(k, v)| Some((k, v?)))
                .collect();
        }
        let mut open = Vec::with_capacity(records.len());
        for record in records {
            if record.nhs_number.is_some() {
                open.push(record);
                continue;
            }
            let Some(w) = wrapped.get(&self.key_name(&record.discharge_id)) else {
                continue; // shredded
            };
            let key = self.master.unwrap_key(&record.discharge_id, w)?;
            open.push(key.open_record(record)?);
        }
        Ok(open)
    }

    /// Schedules the key's destruction at `until` (`None`: keep it, the
    /// patient waits again). Redis' own expiry, at the same time, is the
    /// backstop should no sweep run. Both commands are idempotent, so a
    /// pipeline cut half-way is put right by the next change (no MULTI: the
    /// service's Redis user has no transactions).
    #[tracing::instrument(skip(self))]
    pub async fn retain_until(
        &self,
        discharge_id: &str,
        until: Option<OffsetDateTime>,
    ) -> Result<(), KeyError> {
        let mut redis = self.redis.clone();
        let key = self.key_name(discharge_id);
        match until {
            Some(until) => {
                let at = until.unix_timestamp();
                let _: () = redis::pipe()
                    .zadd(self.schedule_name(), discharge_id, at)
                    .ignore()
                    .cmd("PEXPIREAT")
                    .arg(&key)
                    .arg(at.saturating_mul(1000))
                    .ignore()
                    .query_async(&mut redis)
                    .await?;
            }
            None => {
                let _: () = redis::pipe()
                    .zrem(self.schedule_name(), discharge_id)
                    .ignore()
                    .persist(&key)
                    .ignore()
                    .query_async(&mut redis)
                    .await?;
            }
        }
        Ok(())
    }

    /// Destroys every key whose time has come by `now`; the number destroyed.
    #[tracing::instrument(skip(self))]
    pub async fn shred_due(&self, now: OffsetDateTime) -> Result<usize, KeyError> {
        let mut redis = self.redis.clone();
        let due: Vec<String> = redis
            .zrangebyscore_limit(self.schedule_name(), "-inf", now.unix_timestamp(), 0, 500)
            .await?;
        for id in &due {
            let _: () = redis::pipe()
                .del(self.key_name(id))
                .ignore()
                .zrem(self.schedule_name(), id)
                .ignore()
                .query_async(&mut redis)
                .await?;
            self.shredded.inc();
        }
        if !due.is_empty() {
            tracing::info!(
                shredded = due.len(),
                "patients' data keys destroyed after retention"
            );
        }
        Ok(due.len())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pf_discharge_model::NhsNumber;

    fn fields() -> PatientFields {
        PatientFields {
            nhs_number: NhsNumber::test_number(7),
            search_postcode: "LE2 7LX".into(),
            place: None,
        }
    }

    #[test]
    fn sealed_fields_open_only_with_their_own_patients_key() {
        let one = DataKey::new("d1", &[1; 32]);
        let sealed = one.seal(&fields());
        assert!(
            !sealed
                .ciphertext
                .windows(10)
                .any(|w| w == fields().nhs_number.as_str().as_bytes())
        );
        assert_eq!(one.open(&sealed).unwrap(), fields());
        assert!(
            DataKey::new("d1", &[2; 32]).open(&sealed).is_err(),
            "another key"
        );
        assert!(
            DataKey::new("d2", &[1; 32]).open(&sealed).is_err(),
            "moved to another discharge"
        );
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(one.open(&tampered).is_err(), "tampered with");
    }

    #[test]
    fn a_master_key_file_must_hold_64_hex_digits() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        std::fs::write(&good, format!("{}\n", "ab".repeat(32))).unwrap();
        assert!(MasterKey::from_file(&good).is_ok());
        let short = dir.path().join("short");
        std::fs::write(&short, "abcd").unwrap();
        let err = MasterKey::from_file(&short).unwrap_err().to_string();
        assert!(err.contains("64 hex digits"), "{err}");
        assert!(MasterKey::from_file(&dir.path().join("missing")).is_err());
    }

    #[tokio::test]
    async fn a_key_destroyed_after_retention_leaves_the_record_unreadable_but_whole() {
        let server = pf_test_support::RedisServer::start();
        let registry = prometheus::Registry::new();
        let keys = PatientKeys::connect(
            &server.url(),
            DEFAULT_PREFIX,
            MasterKey::development(),
            &registry,
        )
        .await
        .unwrap();
        let now = OffsetDateTime::now_utc();
        let key = keys.key_for("d1").await.unwrap();
        let again = keys.key_for("d1").await.unwrap();
        let sealed = key.seal(&fields());
        assert_eq!(
            again.open(&sealed).unwrap(),
            fields(),
            "the same key is read back"
        );

        // Another master key opens nothing.
        let other = PatientKeys::connect(
            &server.url(),
            DEFAULT_PREFIX,
            MasterKey::from_bytes(&[9; 32]),
            &registry,
        )
        .await
        .unwrap();
        assert!(other.existing("d1").await.is_err());

        keys.retain_until("d1", Some(now + time::Duration::days(30)))
            .await
            .unwrap();
        assert_eq!(
            keys.shred_due(now + time::Duration::days(29))
                .await
                .unwrap(),
            0
        );
        assert!(keys.existing("d1").await.unwrap().is_some());
        // Back on the list: kept.
        keys.retain_until("d1", None).await.unwrap();
        assert_eq!(
            keys.shred_due(now + time::Duration::days(31))
                .await
                .unwrap(),
            0
        );
        keys.retain_until("d1", Some(now + time::Duration::days(30)))
            .await
            .unwrap();
        assert_eq!(
            keys.shred_due(now + time::Duration::days(31))
                .await
                .unwrap(),
            1
        );
        assert!(keys.existing("d1").await.unwrap().is_none(), "destroyed");
    }
}
