//! pushback's own configuration, as the CLI reads it from `pushback.toml` and the
//! active rule set. The CLI owns the config type; this is what the checks need of it.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushbackPosture {
    /// `code` (code transfer) or `pick3`.
    pub challenge_mode: String,
    pub code_digits: u32,
    /// Prompts allowed since the last approval within the budget window.
    pub budget_prompts: u32,
    pub budget_window_secs: i64,
    /// Denies within the lockout window that lock push (0: never).
    pub lockout_denies: u32,
    /// How long "not me" locks push (0: not at all).
    pub not_me_lock_secs: i64,
    /// Configured finding sinks (`stdout`, `jsonl:<file>`, `webhook:<url>`).
    pub sinks: Vec<String>,
    /// Active detection rules that report findings.
    pub rules: Vec<RuleInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleInfo {
    pub name: String,
    pub title: String,
    pub tags: Vec<String>,
}

impl RuleInfo {
    /// Tagged `attack.t1621`.
    pub fn detects_t1621(&self) -> bool {
        self.tags
            .iter()
            .any(|t| t.eq_ignore_ascii_case("attack.t1621"))
    }
}
