//! The admin side of [`Guard`]: credentials, apps, users, enrolment links, devices,
//! unlocks. Every admin operation asks for an [`AdminPrincipal`], which only a passed key
//! check produces.

use pushback_model::{Timestamp, random_token, sha256};

use crate::Guard;
use crate::code::CodeMode;
use crate::error::{GuardError, GuardResult};
use crate::policy::UserState;
use crate::service::{
    ENROLMENT_TTL_SECS, cached, key_matches, remember, split_key, valid_login, valid_name,
};
use crate::store::{AppRecord, DeviceRecord, UserRecord};

/// Proof that an admin key was checked. Only [`Guard::authenticate_admin`] makes one, and
/// every admin operation asks for one.
#[derive(Debug, Clone)]
pub struct AdminPrincipal {
    key_id: String,
}

impl AdminPrincipal {
    pub fn actor(&self) -> String {
        format!("admin:{}", self.key_id)
    }
}

/// Proof that an ingest key was checked: a log source allowed to post events.
#[derive(Debug, Clone)]
pub struct IngestPrincipal {
    key_id: String,
}

impl IngestPrincipal {
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

/// A one-time enrolment token (secret: shown once, stored hashed).
pub struct Enrolment {
    pub token: String,
    pub expires_at: Timestamp,
}

impl Guard {
    // --- credentials ------------------------------------------------------------------

    /// Creates the first admin key if there is none; returns it (to be shown once).
    pub async fn bootstrap_admin_key(&self) -> GuardResult<Option<String>> {
        if self.store.admin_key_count().await? > 0 {
            return Ok(None);
        }
        self.create_admin_key().await.map(Some)
    }

    /// Creates another admin key (for recovery from the command line with database access).
    pub async fn create_admin_key(&self) -> GuardResult<String> {
        let id = random_token(self.entropy.as_ref(), 6);
        let secret = self.new_secret();
        self.store
            .insert_admin_key(&id, &sha256(secret.as_bytes()), self.now())
            .await?;
        Ok(format!("pba.{id}.{secret}"))
    }

    pub async fn authenticate_admin(&self, presented: &str) -> GuardResult<AdminPrincipal> {
        let (id, secret) = split_key(presented, "pba").ok_or(GuardError::Unauthorized)?;
        match self.store.admin_key_hash(id).await? {
            Some(hash) if key_matches(secret, &hash) => Ok(AdminPrincipal {
                key_id: id.to_owned(),
            }),
            _ => Err(GuardError::Unauthorized),
        }
    }

    /// Creates a key for a log source posting to the ingest API; returns its id and the
    /// key (`pbi.<id>.<secret>`, shown once, stored hashed).
    pub async fn create_ingest_key(
        &self,
        admin: &AdminPrincipal,
        name: &str,
    ) -> GuardResult<(String, String)> {
        if !valid_name(name) {
            return Err(GuardError::Invalid(
                "name must be 1 to 64 printable characters".into(),
            ));
        }
        let id = format!("ing_{}", random_token(self.entropy.as_ref(), 9));
        let secret = self.new_secret();
        self.store
            .insert_ingest_key(
                &id,
                name,
                &sha256(secret.as_bytes()),
                self.now(),
                &admin.actor(),
            )
            .await?;
        Ok((id.clone(), format!("pbi.{id}.{secret}")))
    }

    /// Checks an ingest key the way app and admin keys are checked (SHA-256 of the
    /// secret, compared in constant time); returns the key's id.
    pub async fn authenticate_ingest(&self, presented: &str) -> GuardResult<IngestPrincipal> {
        let (id, secret) = split_key(presented, "pbi").ok_or(GuardError::Unauthorized)?;
        match self.store.ingest_key_hash(id).await? {
            Some(hash) if key_matches(secret, &hash) => Ok(IngestPrincipal {
                key_id: id.to_owned(),
            }),
            _ => Err(GuardError::Unauthorized),
        }
    }

    pub async fn authenticate_app(&self, presented: &str) -> GuardResult<AppRecord> {
        let (id, secret) = split_key(presented, "pbk").ok_or(GuardError::Unauthorized)?;
        let app = match cached(&self.immutables.apps, id) {
            Some(app) => app,
            None => {
                let app = self.store.app(id).await?.ok_or(GuardError::Unauthorized)?;
                remember(&self.immutables.apps, id, app.clone());
                app
            }
        };
        if key_matches(secret, &app.key_hash) {
            Ok(app)
        } else {
            Err(GuardError::Unauthorized)
        }
    }

    // --- admin ------------------------------------------------------------------------

    /// Registers an app; returns it with its API key (shown once, stored hashed).
    pub async fn create_app(
        &self,
        admin: &AdminPrincipal,
        name: &str,
        mode: Option<CodeMode>,
    ) -> GuardResult<(AppRecord, String)> {
        if !valid_name(name) {
            return Err(GuardError::Invalid(
                "name must be 1 to 64 printable characters".into(),
            ));
        }
        let id = format!("app_{}", random_token(self.entropy.as_ref(), 9));
        let secret = self.new_secret();
        let app = AppRecord {
            id: id.clone(),
            name: name.to_owned(),
            key_hash: sha256(secret.as_bytes()).to_vec(),
            mode,
            created_at: self.now(),
        };
        self.store.insert_app(&app, &admin.actor()).await?;
        Ok((app, format!("pbk.{id}.{secret}")))
    }

    pub async fn create_user(
        &self,
        admin: &AdminPrincipal,
        login: &str,
        display_name: &str,
    ) -> GuardResult<UserRecord> {
        if !valid_login(login) {
            return Err(GuardError::Invalid(
                "login must be 1 to 128 characters without spaces".into(),
            ));
        }
        if display_name.chars().count() > 128 || display_name.chars().any(char::is_control) {
            return Err(GuardError::Invalid(
                "display_name must be at most 128 printable characters".into(),
            ));
        }
        Ok(self
            .store
            .insert_user(login, display_name, self.now(), &admin.actor())
            .await?)
    }

    pub(crate) async fn user(&self, login: &str) -> GuardResult<UserRecord> {
        self.store
            .user_by_login(login)
            .await?
            .ok_or(GuardError::NotFound)
    }

    /// A one-time link secret for enrolling a device of `login` (10 minutes, single use).
    pub async fn create_enrolment(
        &self,
        admin: &AdminPrincipal,
        login: &str,
    ) -> GuardResult<Enrolment> {
        let user = self.user(login).await?;
        let token = self.new_secret();
        let now = self.now();
        let expires_at = now.plus_secs(ENROLMENT_TTL_SECS);
        self.store
            .insert_enrolment(
                &user,
                &sha256(token.as_bytes()),
                expires_at,
                now,
                &admin.actor(),
            )
            .await?;
        Ok(Enrolment { token, expires_at })
    }

    pub async fn devices(
        &self,
        _admin: &AdminPrincipal,
        login: &str,
    ) -> GuardResult<Vec<DeviceRecord>> {
        let user = self.user(login).await?;
        Ok(self.store.devices_of(user.id).await?)
    }

    pub async fn rename_device(
        &self,
        admin: &AdminPrincipal,
        id: &str,
        name: &str,
    ) -> GuardResult<()> {
        if !valid_name(name) {
            return Err(GuardError::Invalid(
                "name must be 1 to 64 printable characters".into(),
            ));
        }
        match self
            .store
            .rename_device(id, name, self.now(), &admin.actor())
            .await?
        {
            true => Ok(()),
            false => Err(GuardError::NotFound),
        }
    }

    pub async fn revoke_device(&self, admin: &AdminPrincipal, id: &str) -> GuardResult<()> {
        let now = self.now();
        match self.store.revoke_device(id, now, &admin.actor()).await? {
            true => {
                if let Some(mut d) = cached(&self.immutables.devices, id) {
                    d.revoked_at = Some(now);
                    remember(&self.immutables.devices, id, d);
                }
                Ok(())
            }
            false => Err(GuardError::NotFound),
        }
    }

    pub async fn user_state(&self, _admin: &AdminPrincipal, login: &str) -> GuardResult<UserState> {
        let user = self.user(login).await?;
        Ok(self.store.user_state(user.id).await?)
    }

    /// Lifts a step-up requirement the response playbook set; `NotFound` when the user
    /// is unknown or none is in force.
    pub async fn lift_step_up(
        &self,
        admin: &AdminPrincipal,
        login: &str,
    ) -> GuardResult<UserState> {
        let user = self.user(login).await?;
        if !self
            .store
            .set_step_up(&user, false, self.now(), &admin.actor())
            .await?
        {
            return Err(GuardError::NotFound);
        }
        Ok(self.store.user_state(user.id).await?)
    }

    /// Unfreezes a device the response playbook froze; `NotFound` when it is unknown
    /// or not frozen.
    pub async fn unfreeze_device(&self, admin: &AdminPrincipal, id: &str) -> GuardResult<()> {
        match self
            .store
            .unfreeze_device(id, self.now(), &admin.actor())
            .await?
        {
            true => Ok(()),
            false => Err(GuardError::NotFound),
        }
    }

    pub async fn unlock(&self, admin: &AdminPrincipal, login: &str) -> GuardResult<UserState> {
        let user = self.user(login).await?;
        self.store
            .unlock_user(&user, self.now(), &admin.actor())
            .await?;
        Ok(self.store.user_state(user.id).await?)
    }
}
