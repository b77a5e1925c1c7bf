//! `pushback audit verify`.

use crate::output;
use crate::runtime;

/// Verifies the chain; returns whether it is intact.
pub async fn verify(url: &str) -> anyhow::Result<bool> {
    let store = runtime::open_store(url).await?;
    let report = pushback_guard::audit::verify_audit(store.as_ref()).await?;
    match &report.broken {
        None => {
            output::line(&format!(
                "audit log intact: {} entries verified, head {}",
                report.verified, report.head
            ));
            if report.unsealed > 0 {
                output::line(&format!(
                    "{} entries were written while verifying and are not yet sealed",
                    report.unsealed
                ));
            }
            Ok(true)
        }
        Some(broken) => {
            output::line(&format!("audit log BROKEN: {broken}"));
            output::line(&format!("{} entries before it verified", report.verified));
            Ok(false)
        }
    }
}
