//! Where findings go: each [`Sink`] drains a bounded queue of its own on a task of its
//! own, so a slow or dead sink delays only itself. A full queue drops the finding and
//! counts it.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::mpsc;

use pushback_model::Finding;

use super::webhook::WebhookSettings;
use crate::metrics::Metrics;

/// The `[watch.sinks]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinkSettings {
    /// Print each finding as a JSON line on standard output.
    pub stdout: bool,
    /// Append each finding as a JSON line to this file (created if missing).
    pub jsonl: Option<String>,
    /// POST each finding, signed, to a URL.
    pub webhook: Option<WebhookSettings>,
    /// Findings waiting per sink; beyond that they are dropped and counted.
    pub queue: usize,
}

impl Default for SinkSettings {
    fn default() -> Self {
        Self {
            stdout: false,
            jsonl: None,
            webhook: None,
            queue: 1000,
        }
    }
}

/// A delivery that failed for good (after any retries the sink makes).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    #[error("writing failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Delivery(String),
}

/// A destination for findings.
#[async_trait]
pub trait Sink: Send + 'static {
    /// The sink's name in logs and metrics: `jsonl`, `stdout`, `webhook`.
    fn name(&self) -> &'static str;
    /// Delivers one finding, retrying as the sink sees fit.
    async fn deliver(&mut self, finding: &Finding) -> Result<(), SinkError>;
}

/// The sending end of one sink's queue.
pub(crate) struct Outlet {
    name: &'static str,
    tx: mpsc::Sender<Arc<Finding>>,
    metrics: Arc<Metrics>,
}

impl Outlet {
    /// Queues `finding` unless the queue is full (then counts a drop). Never waits.
    pub(crate) fn offer(&self, finding: &Arc<Finding>) {
        if self.tx.try_send(finding.clone()).is_err() {
            tracing::warn!(sink = self.name, rule = %finding.rule_id, "sink queue full; finding dropped");
            self.metrics
                .watch
                .sink_deliveries
                .get_or_create(&vec![("sink", self.name), ("result", "dropped")])
                .inc();
        }
    }
}

/// Starts a task per sink; returns their queues.
pub(crate) fn start_all(
    sinks: Vec<Box<dyn Sink>>,
    queue: usize,
    metrics: Arc<Metrics>,
) -> Vec<Outlet> {
    sinks
        .into_iter()
        .map(|mut sink| {
            let name = sink.name();
            let (tx, mut rx) = mpsc::channel::<Arc<Finding>>(queue);
            let counts = metrics.clone();
            tokio::spawn(async move {
                while let Some(finding) = rx.recv().await {
                    let result = match sink.deliver(&finding).await {
                        Ok(()) => "delivered",
                        Err(e) => {
                            tracing::warn!(sink = name, rule = %finding.rule_id, error = %e, "finding not delivered");
                            "failed"
                        }
                    };
                    counts
                        .watch
                        .sink_deliveries
                        .get_or_create(&vec![("sink", name), ("result", result)])
                        .inc();
                }
            });
            Outlet { name, tx, metrics: metrics.clone() }
        })
        .collect()
}

/// Appends each finding as one JSON line to a file.
pub struct JsonlSink {
    path: PathBuf,
    file: Option<tokio::fs::File>,
}

impl JsonlSink {
    /// The file is opened (created if missing, appended to) at the first finding.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            file: None,
        }
    }
}

#[async_trait]
impl Sink for JsonlSink {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    async fn deliver(&mut self, finding: &Finding) -> Result<(), SinkError> {
        let mut line = serde_json::to_vec(finding)
            .map_err(|e| SinkError::Delivery(format!("serialising: {e}")))?;
        line.push(b'\n');
        let file = match &mut self.file {
            Some(file) => file,
            slot => slot.insert(
                tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .await?,
            ),
        };
        let written = async {
            file.write_all(&line).await?;
            file.flush().await
        }
        .await;
        if written.is_err() {
            // Reopen next time: the file may have been rotated away.
            self.file = None;
        }
        Ok(written?)
    }
}
