//! The `[respond]` table of `pushback.toml`.

use serde::{Deserialize, Serialize};

use crate::playbook::{Entry, Playbook, PlaybookError, default_entries};
use crate::responder::RetryPolicy;

/// The `[respond]` table: whether the playbook runs, its entries and how actions are
/// retried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RespondSettings {
    /// Run the playbook on guard's events and watch's findings.
    pub enabled: bool,
    pub retry: RetryPolicy,
    /// The playbook entries (`[[respond.playbook]]`); without any, the defaults.
    pub playbook: Vec<Entry>,
}

impl Default for RespondSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            retry: RetryPolicy::default(),
            playbook: default_entries(),
        }
    }
}

impl RespondSettings {
    pub fn playbook(&self) -> Result<Playbook, PlaybookError> {
        Playbook::new(self.playbook.clone())
    }
}
