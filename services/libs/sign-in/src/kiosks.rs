//! Kiosks: control-room wall screens that nobody signs in to.
//!
//! A system administrator registers a kiosk and gets a single-use setup link
//! for it ([`LinkPurpose::KioskSetup`](crate::LinkPurpose)); using the link
//! on the screen starts a long-lived session (a
//! [`SessionLifetime`](crate::SessionLifetime) of its own) for the kiosk's
//! principal, `kiosk:{id}`, whose only grant is the system-wide
//! control-room viewer role. Revoking that principal ends the session at
//! once, like any other; the kiosk stays listed as revoked, and its setup
//! link, if still unused, no longer works. An unrevoked kiosk whose setup
//! link expired unused is given a new one
//! ([`SignInStore::reissue_link_for`]), which voids the earlier link.
//!
//! Keys (under the store's prefix):
//! - `kiosk:{id}`: a hash of `created_at` (set first, claiming the id),
//!   `name`, `created_by`, and
//!   `set_up_at` / `revoked_at` once they happen (seconds since the epoch).
//! - `kiosks`: the set of kiosk ids.

use pf_access::{Grant, GrantError, Principal, Role};
use redis::AsyncCommands as _;
use serde::Serialize;
use std::collections::HashMap;
use time::OffsetDateTime;

use crate::store::{SignInStore, StoreError};

/// How a kiosk's principal id starts: `kiosk:` and the kiosk id.
pub const KIOSK_PRINCIPAL_PREFIX: &str = "kiosk:";

/// A registered kiosk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kiosk {
    /// Its id, chosen by the administrator (e.g. `control-room-wall-1`).
    pub id: String,
    /// What people call the screen (e.g. "Control room wall 1").
    pub name: String,
    /// When it was registered, seconds since the epoch.
    pub created_at: i64,
    /// The id of the administrator who registered it.
    pub created_by: String,
    /// When its setup link was used, if it has been.
    pub set_up_at: Option<i64>,
    /// When it was revoked, if it has been; a revoked kiosk stays revoked.
    pub revoked_at: Option<i64>,
}

/// Whether `id` can be a kiosk id: 1 to 64 letters, digits, `.`, `_` or `-`.
pub fn valid_kiosk_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// The principal id of kiosk `kiosk_id`.
pub fn kiosk_principal_id(kiosk_id: &str) -> String {
    format!("{KIOSK_PRINCIPAL_PREFIX}{kiosk_id}")
}

/// The kiosk id of a kiosk's principal id, `None` for anyone else.
pub fn kiosk_id_of(principal_id: &str) -> Option<&str> {
    principal_id
        .strip_prefix(KIOSK_PRINCIPAL_PREFIX)
        .filter(|id| valid_kiosk_id(id))
}

/// The principal a kiosk signs in as: a machine identity whose only grant
/// is the system-wide control-room viewer role (aggregates, nothing else).
pub fn kiosk_principal(kiosk_id: &str, name: &str) -> Result<Principal, GrantError> {
    let view = Grant::new(Role::ControlRoomViewer, [])?;
    Ok(Principal::machine(kiosk_principal_id(kiosk_id), name, None).with_grant(view))
}

impl Kiosk {
    /// A kiosk registered now by `created_by`.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        created_by: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            created_at: OffsetDateTime::now_utc().unix_timestamp(),
            created_by: created_by.into(),
            set_up_at: None,
            revoked_at: None,
        }
    }

    /// The principal the kiosk signs in as.
    pub fn principal(&self) -> Result<Principal, GrantError> {
        kiosk_principal(&self.id, &self.name)
    }

    /// Whether the kiosk has been revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    fn from_fields(id: &str, fields: &HashMap<String, String>) -> Option<Self> {
        let time = |name: &str| fields.get(name).and_then(|v| v.parse::<i64>().ok());
        Some(Self {
            id: id.to_owned(),
            name: fields.get("name")?.clone(),
            created_at: time("created_at")?,
            created_by: fields.get("created_by").cloned().unwrap_or_default(),
            set_up_at: time("set_up_at"),
            revoked_at: time("revoked_at"),
        })
    }
}

impl SignInStore {
    /// Registers `kiosk`; `false` (and nothing changes) when a kiosk with
    /// its id exists already, revoked or not. Plain hash commands, no script
    /// (the identity service's Redis user may not run scripts): the
    /// creation time claims the id, then the rest is written; a reader in
    /// between sees no kiosk yet.
    pub async fn register_kiosk(&self, kiosk: &Kiosk) -> Result<bool, StoreError> {
        let key = self.key("kiosk", &kiosk.id);
        let mut connection = self.connection();
        let claimed: bool = connection
            .hset_nx(&key, "created_at", kiosk.created_at)
            .await?;
        if !claimed {
            return Ok(false);
        }
        let _: () = redis::pipe()
            .hset_multiple(
                &key,
                &[("name", &kiosk.name), ("created_by", &kiosk.created_by)],
            )
            .ignore()
            .sadd(self.plain_key("kiosks"), &kiosk.id)
            .ignore()
            .query_async(&mut connection)
            .await?;
        Ok(true)
    }

    /// The kiosk with this id, if registered.
    pub async fn kiosk(&self, id: &str) -> Result<Option<Kiosk>, StoreError> {
        if !valid_kiosk_id(id) {
            return Ok(None);
        }
        let mut connection = self.connection();
        let fields: HashMap<String, String> = connection.hgetall(self.key("kiosk", id)).await?;
        Ok(Kiosk::from_fields(id, &fields))
    }

    /// Every registered kiosk, oldest first.
    pub async fn kiosks(&self) -> Result<Vec<Kiosk>, StoreError> {
        let mut connection = self.connection();
        let ids: Vec<String> = connection.smembers(self.plain_key("kiosks")).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(self.key("kiosk", id));
        }
        let all: Vec<HashMap<String, String>> = pipe.query_async(&mut connection).await?;
        let mut kiosks: Vec<Kiosk> = ids
            .iter()
            .zip(&all)
            .filter_map(|(id, fields)| Kiosk::from_fields(id, fields))
            .collect();
        kiosks.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(kiosks)
    }

    /// Records that the kiosk's setup link was used now.
    pub async fn kiosk_set_up(&self, id: &str) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let _: () = connection
            .hset(
                self.key("kiosk", id),
                "set_up_at",
                OffsetDateTime::now_utc().unix_timestamp(),
            )
            .await?;
        Ok(())
    }

    /// Marks a registered kiosk revoked for good (the first revocation's
    /// time is kept) and refuses its principal without end, so that no
    /// session or setup link of it works again, even one started while the
    /// revocation was under way; `false` when there is no such kiosk. Its
    /// live sessions are ended by [`SignInStore::revoke`] of its principal.
    pub async fn revoke_kiosk(&self, id: &str) -> Result<bool, StoreError> {
        if self.kiosk(id).await?.is_none() {
            return Ok(false);
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut connection = self.connection();
        let _: () = redis::pipe()
            .hset_nx(self.key("kiosk", id), "revoked_at", now)
            .ignore()
            .set(self.key("revoked", &kiosk_principal_id(id)), now)
            .ignore()
            .query_async(&mut connection)
            .await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kiosk_ids_are_short_plain_words() {
        assert!(valid_kiosk_id("control-room-wall-1") && valid_kiosk_id("ICC.2_b"));
        assert!(!valid_kiosk_id("") && !valid_kiosk_id("wall 1") && !valid_kiosk_id("a:b"));
        assert!(!valid_kiosk_id(&"a".repeat(65)));
        assert_eq!(kiosk_principal_id("wall-1"), "kiosk:wall-1");
        assert_eq!(kiosk_id_of("kiosk:wall-1"), Some("wall-1"));
        assert_eq!(kiosk_id_of("jo.carer"), None);
        assert_eq!(kiosk_id_of("kiosk:"), None);
    }

    #[test]
    fn a_kiosk_only_views_the_control_room() {
        let kiosk = Kiosk::new("wall-1", "Control room wall 1", "admin")
            .principal()
            .expect("a system-wide grant");
        assert_eq!(kiosk.roles(), vec![Role::ControlRoomViewer]);
        assert!(kiosk.is_machine() && kiosk.organisation.is_none());
        assert!(kiosk.grants.iter().all(|g| g.organisations().is_empty()));
    }
}
