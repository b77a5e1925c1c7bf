//! Everything pushback prints to stdout goes through here.

use std::io::Write as _;

/// Prints one line; a closed pipe ends the program quietly.
pub fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").is_err() {
        std::process::exit(0);
    }
}

/// Text printed as it is (a trailing newline is added if missing); a closed pipe ends
/// the program quietly.
pub fn text(text: &str) {
    line(text.strip_suffix('\n').unwrap_or(text));
}

/// Pretty JSON.
pub fn json(value: &serde_json::Value) {
    line(&serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

pub fn serve_banner(addr: &str, public_url: &str, database: &str, admin_key: Option<&str>) {
    line(&format!(
        "pushback listening on http://{addr}  (database: {database})"
    ));
    match admin_key {
        Some(key) => {
            line("");
            line(
                "First start: an admin API key was created. It is shown only this once and stored",
            );
            line("only as a hash, so keep it somewhere safe:");
            line("");
            line(&format!("    export PUSHBACK_ADMIN_KEY={key}"));
            line("");
            line("Next steps:");
            line(&format!(
                "    pushback admin --url {public_url} app create \"My app\"      # an API key for your app"
            ));
            line(&format!(
                "    pushback admin --url {public_url} user create alice"
            ));
            line(&format!(
                "    pushback admin --url {public_url} enrol alice              # a one-time device link"
            ));
            line("    pushback device enroll '<link>'                     # on the device");
        }
        None => line(
            "Admin key: already set up (PUSHBACK_ADMIN_KEY). Lost it? `pushback admin key create --database-url …`",
        ),
    }
}

/// The `stdout` sink: each new finding as one JSON line.
pub struct StdoutSink;

#[async_trait::async_trait]
impl pushback_server::live::Sink for StdoutSink {
    fn name(&self) -> &'static str {
        "stdout"
    }

    async fn deliver(
        &mut self,
        finding: &pushback_model::Finding,
    ) -> Result<(), pushback_server::live::SinkError> {
        let text = serde_json::to_string(finding)
            .map_err(|e| pushback_server::live::SinkError::Delivery(format!("serialising: {e}")))?;
        line(&text);
        Ok(())
    }
}
