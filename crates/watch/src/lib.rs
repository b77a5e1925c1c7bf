//! watch: detection over identity-provider logs. This crate owns the first stage,
//! turning exported or streamed Okta, Entra ID and Duo records into pushback's
//! [`AuthEvent`](pushback_model::AuthEvent); rules, windows and sinks build on it.
//!
//! - [`input`] splits a byte stream (JSON lines, a JSON array, an Event Hub
//!   `{"records": [...]}` batch, a Duo `{"response": {"authlogs": [...]}}` page; gzip or
//!   not) into records without loading it whole, bounds each record's size, and guesses
//!   the format from the first record unless told. [`ParallelReader`] yields the same
//!   records in the same order with splitting and normalising on other threads; given
//!   a plain JSON-lines file ([`ParallelReader::from_file`]), its normalising threads
//!   read it in blocks themselves.
//! - [`source`] holds one normaliser per identity provider ([`source::okta`],
//!   [`source::entra`], [`source::duo`]); each documents what maps to which
//!   [`EventKind`](pushback_model::EventKind).
//!
//! - [`rule`] compiles Sigma rules (detection and correlation) written against
//!   `logsource: {product: pushback, category: mfa}`; the built-in rules live in the
//!   repository's `rules/` directory and are compiled into the binary.
//! - [`Engine`] runs them over events in event time, reordering bounded disorder, and
//!   returns [`Finding`](pushback_model::Finding)s (see [`engine`]).
//!
//! - [`store`] is the port findings are stored through ([`FindingStore`]), implemented
//!   by `pushback-store` on SQLite and PostgreSQL.
//!
//! A bad record is an error for that record only; the stream goes on, so a caller can
//! count errors, show the first few and carry on, or stop at the first.
//!
//! ```
//! use pushback_model::EventKind;
//! use pushback_watch::input::{EventReader, ReaderSettings};
//!
//! let log = br#"{"txid":"t1","isotimestamp":"2021-07-23T07:19:34.702203+00:00","event_type":"authentication","factor":"duo_push","result":"denied","reason":"user_mistake","user":{"name":"narroway"}}
//! {"txid":"t2","isotimestamp":"not a time","result":"denied","user":{"name":"narroway"}}
//! "#;
//! let mut kinds = Vec::new();
//! let mut errors = Vec::new();
//! for record in EventReader::new(&log[..], ReaderSettings::default()) {
//!     match record {
//!         Ok(record) => kinds.extend(record.outcome.events().map(|e| e.kind)),
//!         Err(e) => errors.push(e.to_string()),
//!     }
//! }
//! assert_eq!(kinds, [EventKind::PushDenied]);
//! assert_eq!(errors, ["record 2 (line 2): unreadable time \"not a time\""]);
//! ```

mod address;
pub mod engine;
mod field;
pub mod input;
pub mod rule;
pub mod source;
pub mod store;
mod timestamp;

pub use engine::{Engine, EngineSettings, EngineStats, Restored, Spent, StateError};
pub use input::{EventReader, ParallelReader, Reader, ReaderSettings, Record, RecordError};
pub use source::{Format, Normalised, Normaliser, Skip};
pub use store::{FindingStore, FindingStoreError, finding_key};
