//! Governance for pushback: who owns each MFA-fatigue control, which exceptions were
//! accepted by whom, and who answers for an incident.
//!
//! - [`registry`]: the YAML registry (parties, roles and staffing, controls with one
//!   accountable role, applications, exceptions), parsed with line and column for every
//!   problem, and its governance defects.
//! - [`export`]: exported IdP configuration (Entra ID, Okta, Duo) and pushback's own.
//! - [`posture`]: the checks over those exports, each finding with its owner.
//! - [`timeline`] and [`accountability`]: an incident's timeline in, the accountability
//!   report out (who answers for each control on the access path, and why).
//! - [`framework`]: framework references as data; [`oscal`]: OSCAL 1.1 JSON export.
//! - [`render`]: Markdown, HTML and JSON renderings; nothing here prints.
//!
//! Nothing reads the wall clock: the day an assessment is "as of" is a parameter.
//!
//! ```
//! use pushback_govern::{date::Day, registry::Registry};
//! let registry = Registry::parse("registry.yaml", pushback_govern::starter::STARTER_YAML)
//!     .expect("the starter parses");
//! let today = Day::parse("2026-06-01").expect("a day");
//! assert!(registry.defects(today).is_empty());
//! ```

pub mod accountability;
pub mod date;
pub mod export;
pub mod framework;
pub mod oscal;
mod position;
pub mod posture;
pub mod registry;
pub mod render;
pub mod starter;
pub mod timeline;

pub use position::Pos;
pub use registry::Problem;
