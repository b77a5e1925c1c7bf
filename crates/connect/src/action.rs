//! Response actions the playbook asks for without knowing the vendor:
//! [`IdentityProvider`], a [`UserRef`] in, an [`ActionReceipt`] out.
//!
//! Every action is idempotent: asking again for what is already so (a suspended user
//! suspended, sessions already cleared) succeeds with [`Outcome::AlreadyDone`] or
//! [`Outcome::Done`], never an error, so a playbook that retries or replays a step is
//! safe.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::ConnectorError;

/// A user as the identity provider knows them: an Okta login, an Entra user principal
/// name (or object id), a Duo username. Resolved to the vendor's id where the API
/// needs one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserRef(String);

impl UserRef {
    pub fn new(login: impl Into<String>) -> Self {
        Self(login.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What was asked of the identity provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// Okta: clear sessions and OAuth tokens; Graph: revoke sign-in sessions.
    RevokeSessions,
    /// Okta: suspend; Graph: disable the account; Duo: disable the user.
    Suspend,
    /// Graph Identity Protection: confirm the user compromised (user risk high).
    ConfirmCompromised,
}

impl Action {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RevokeSessions => "revoke_sessions",
            Self::Suspend => "suspend",
            Self::ConfirmCompromised => "confirm_compromised",
        }
    }
}

/// Whether the call changed anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The identity provider accepted the change (or, for calls it does not report
    /// on, such as revoking sessions, accepted the request).
    Done,
    /// It was already so; nothing was changed.
    AlreadyDone,
}

/// The record of one action, for the incident timeline and the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionReceipt {
    /// `okta`, `graph`, `duo`.
    pub connector: String,
    pub action: Action,
    /// The user as asked.
    pub user: UserRef,
    /// The vendor's id for the user, when it was looked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
    pub outcome: Outcome,
}

impl ActionReceipt {
    pub(crate) fn new(
        connector: &str,
        action: Action,
        user: &UserRef,
        vendor_id: Option<String>,
        outcome: Outcome,
    ) -> Self {
        Self {
            connector: connector.to_owned(),
            action,
            user: user.clone(),
            vendor_id,
            outcome,
        }
    }
}

/// The actions every identity provider offers. Vendor extras (Graph's
/// `confirm_compromised`, Duo's `lock`) are methods of the vendor's client.
#[async_trait]
pub trait IdentityProvider: Send + Sync {
    /// `okta`, `graph`, `duo`.
    fn name(&self) -> &'static str;

    /// Ends the user's sessions and revokes their tokens, so a session won by an
    /// approved push is cut off.
    async fn revoke_sessions(&self, user: &UserRef) -> Result<ActionReceipt, ConnectorError>;

    /// Stops the user from signing in until an administrator restores them.
    async fn suspend(&self, user: &UserRef) -> Result<ActionReceipt, ConnectorError>;
}
