//! Pollers: one task per configured log source (`[connectors.okta|graph|duo]`) reads
//! the vendor's log page by page, hands the records to the live engine through the same
//! reader as the ingest API, and saves the page's checkpoint once the engine has them.
//!
//! A page's checkpoint is saved with the engine's state, in one transaction (see
//! [`super::Live::submit_page`]). After a restart, or a crash, the engine goes on from
//! its saved state and the poller from the checkpoint saved with it: records read
//! after that save are read again and judged once, nothing is skipped, and an attack
//! straddling the restart is seen whole. Until a poller has caught up, the engine
//! holds its watermark for it, so records of the time the service was down are judged
//! rather than dropped as late. A failure — the vendor down, a 4xx, a malformed
//! page, a looping cursor — is logged with the connector's message, counted, and
//! retried after a pause; the checkpoint stays where it was.
//!
//! Several nodes may share one PostgreSQL database: each source is polled by the node
//! that holds its lease (a PostgreSQL advisory lock held by a connection of the
//! poller's own), and another node takes over when that one goes.

use std::sync::Arc;
use std::time::Duration;

use pushback_connect::{Checkpoint, LogSource};
use pushback_watch::FindingStore;

use super::{Live, PolledPage};
use crate::ingest_api::{format_of, read_batch};
use crate::metrics::Metrics;

/// How often a node standing by asks for a source's lease.
const LEASE_RETRY: Duration = Duration::from_secs(5);

/// The longest pause after a failure that waiting cannot mend (a refused credential):
/// an operator fixes the configuration meanwhile, and the poller tries again.
const REFUSED_PAUSE: Duration = Duration::from_secs(300);

/// Starts polling `source` into `live`, from the checkpoint saved in `store`.
pub fn spawn_poller(
    mut source: Box<dyn LogSource>,
    live: Live,
    store: Arc<dyn FindingStore>,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let name = source.name();
        let Some((format, event_source)) = format_of(name) else {
            tracing::error!(
                source = name,
                "no reader for this log source; its poller is not started"
            );
            let _ = live.settled(name).await;
            return;
        };
        // Of several nodes sharing a PostgreSQL database, the one holding the lease
        // polls; the others stand by and take over when it goes.
        let mut announced = false;
        let _lease = loop {
            match store.poller_lease(name).await {
                Ok(Some(lease)) => break lease,
                Ok(None) => {
                    if !announced {
                        tracing::info!(
                            source = name,
                            "another node polls this source; standing by"
                        );
                        announced = true;
                        // Detection here must not wait for records it will not get.
                        if live.settled(name).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(source = name, error = %e, "taking the poller's lease failed; retrying");
                }
            }
            tokio::time::sleep(LEASE_RETRY.min(source.poll_interval())).await;
        };
        let mut checkpoint = loop {
            match store.checkpoint(name).await {
                Ok(saved) => break saved.map(|text| Checkpoint::from_stored(&text)),
                Err(e) => {
                    tracing::warn!(source = name, error = %e, "reading the poller's checkpoint failed; retrying");
                    tokio::time::sleep(source.poll_interval()).await;
                }
            }
        };
        tracing::info!(
            source = name,
            resuming = checkpoint.is_some(),
            "poller started"
        );
        loop {
            let pause = match source.poll(checkpoint.as_ref()).await {
                Ok(page) => {
                    let mut bytes = Vec::new();
                    for record in &page.records {
                        if serde_json::to_writer(&mut bytes, record).is_ok() {
                            bytes.push(b'\n');
                        }
                    }
                    let batch = read_batch(format, &bytes);
                    super::count_ingest(&metrics, event_source, batch.accepted, batch.rejected);
                    let polled = PolledPage {
                        source: name,
                        events: batch.events,
                        checkpoint: page.checkpoint.as_str().to_owned(),
                        caught_up: !page.more,
                    };
                    if live.submit_page(polled).await.is_err() {
                        tracing::info!(source = name, "the engine has stopped; poller ends");
                        return;
                    }
                    checkpoint = Some(page.checkpoint);
                    if page.more {
                        Duration::ZERO
                    } else {
                        source.poll_interval()
                    }
                }
                Err(e) => {
                    metrics
                        .watch
                        .poll_failures
                        .get_or_create(&vec![("source", name)])
                        .inc();
                    let transient = e.is_transient();
                    tracing::warn!(source = name, error = %e, transient, "polling failed; the checkpoint stays, retrying later");
                    if transient {
                        source.poll_interval()
                    } else {
                        // Refused until an operator acts: detection must not wait.
                        if live.settled(name).await.is_err() {
                            return;
                        }
                        source.poll_interval().max(REFUSED_PAUSE)
                    }
                }
            };
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
    })
}
