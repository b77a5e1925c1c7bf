//! Ingest keys: made by an admin, stored hashed, audited, checked like app keys.

use crate::support::{assert_unauthorized, worlds};

#[tokio::test]
async fn ingest_keys_authenticate_only_themselves_and_their_creation_is_audited() {
    for w in worlds().await {
        let b = w.name;
        let (id, key) = w
            .guard
            .create_ingest_key(&w.admin, "Okta event hook")
            .await
            .expect("create an ingest key");
        assert!(
            key.starts_with(&format!("pbi.{id}.")),
            "[{b}] ingest keys are pbi.<id>.<secret>"
        );
        let who = w
            .guard
            .authenticate_ingest(&key)
            .await
            .expect("the key authenticates");
        assert_eq!(who.key_id(), id, "[{b}]");
        assert_unauthorized(
            w.guard.authenticate_ingest(&format!("{key}x")).await,
            "a wrong secret",
        );
        assert_unauthorized(
            w.guard.authenticate_ingest(&w.app_key).await,
            "an app key as an ingest key",
        );
        assert_unauthorized(
            w.guard.authenticate_ingest(&w.admin_key).await,
            "the admin key as an ingest key",
        );
        assert_unauthorized(
            w.guard.authenticate_admin(&key).await,
            "an ingest key as an admin key",
        );

        let secret = key.rsplit('.').next().expect("a secret part");
        let audit = w.audit().await;
        let created = audit
            .iter()
            .find(|e| e.entry.kind == "ingest.key_created")
            .unwrap_or_else(|| panic!("[{b}] the creation is audited"));
        assert_eq!(created.entry.subject, id, "[{b}]");
        assert_eq!(created.entry.actor, w.admin.actor(), "[{b}]");
        assert!(
            audit.iter().all(|e| !e.entry.detail.contains(secret)),
            "[{b}] the secret is never audited"
        );
    }
}
