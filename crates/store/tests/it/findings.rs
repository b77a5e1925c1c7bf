//! Findings: stored once per episode, listed newest first, filtered and paged.

use pushback_model::{EventSource, Finding, Severity, Timestamp};
use pushback_watch::store::{FindingCursor, FindingQuery};

use crate::support::{T0, backends};

fn finding(rule: &str, user: &str, start_min: i64, end_min: i64) -> Finding {
    let at = |m: i64| Timestamp::from_millis(T0 + m * 60_000);
    Finding {
        rule_id: rule.into(),
        title: format!("{rule} title"),
        severity: Severity::High,
        user: Some(user.into()),
        source: Some(EventSource::Okta),
        window_start: at(start_min),
        window_end: at(end_min),
        event_count: 5,
        event_ids: vec![format!("{rule}-{user}-{start_min}")],
        event_ids_truncated: false,
        group: vec![("user".into(), user.into())],
        distinct: None,
        tags: vec!["attack.t1621".into()],
    }
}

fn rules_and_users(page: &[pushback_watch::store::StoredFinding]) -> Vec<(String, String)> {
    page.iter()
        .map(|f| {
            (
                f.finding.rule_id.clone(),
                f.finding.user.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_finding_is_stored_once_per_episode_however_often_it_is_reported() {
    for b in backends().await {
        let name = b.name;
        let at = Timestamp::from_millis(T0);
        let flood = finding("push_flood", "alice", 0, 4);
        let fraud = finding("user_reported_fraud", "bob", 1, 1);
        let fresh = b
            .findings
            .insert_findings(&[flood.clone(), fraud.clone()], at)
            .await
            .expect("insert");
        assert_eq!(fresh, [true, true], "[{name}]");

        // A replay after a restart reports the same episode again, perhaps with more
        // events counted by then: nothing new is stored.
        let mut replayed = flood.clone();
        replayed.event_count = 6;
        replayed.window_end = Timestamp::from_millis(T0 + 5 * 60_000);
        let later = finding("push_flood", "alice", 30, 34);
        let fresh = b
            .findings
            .insert_findings(&[replayed, later.clone()], at.plus_secs(60))
            .await
            .expect("insert again");
        assert_eq!(fresh, [false, true], "[{name}] only the new episode is new");

        let page = b
            .findings
            .findings(&FindingQuery {
                limit: 10,
                ..FindingQuery::default()
            })
            .await
            .expect("list");
        assert_eq!(page.findings.len(), 3, "[{name}]");
        assert_eq!(page.next, None, "[{name}] one page holds everything");
        // Newest first, and each comes back exactly as stored.
        assert_eq!(page.findings[0].finding, later, "[{name}]");
        assert_eq!(page.findings[1].finding, flood, "[{name}]");
        assert_eq!(page.findings[2].finding, fraud, "[{name}]");
        assert_eq!(page.findings[1].stored_at, at, "[{name}]");
    }
}

#[tokio::test]
async fn findings_are_filtered_and_paged_newest_first() {
    for b in backends().await {
        let name = b.name;
        let mut all = Vec::new();
        for i in 0..7 {
            let user = if i % 2 == 0 { "alice" } else { "bob" };
            all.push(finding("push_flood", user, i * 10, i * 10 + 4));
        }
        // Two findings ending at the same moment: the later-stored one comes first.
        all.push(finding("push_spray", "carol", 60, 64));
        b.findings
            .insert_findings(&all, Timestamp::from_millis(T0))
            .await
            .expect("insert");

        let mut seen = Vec::new();
        let mut after: Option<FindingCursor> = None;
        let mut pages = 0;
        loop {
            let page = b
                .findings
                .findings(&FindingQuery {
                    limit: 3,
                    after,
                    ..FindingQuery::default()
                })
                .await
                .expect("page");
            pages += 1;
            seen.extend(rules_and_users(&page.findings));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(pages, 3, "[{name}] 8 findings in pages of 3");
        assert_eq!(seen.len(), 8, "[{name}] every finding once: {seen:?}");
        assert_eq!(
            seen[0],
            ("push_spray".into(), "carol".into()),
            "[{name}] ties in time: the later stored first"
        );
        assert_eq!(seen[1], ("push_flood".into(), "alice".into()), "[{name}]");
        assert_eq!(seen[7], ("push_flood".into(), "alice".into()), "[{name}]");

        let bob = b
            .findings
            .findings(&FindingQuery {
                user: Some("bob".into()),
                limit: 100,
                ..FindingQuery::default()
            })
            .await
            .expect("by user");
        assert_eq!(bob.findings.len(), 3, "[{name}]");
        assert!(
            bob.findings
                .iter()
                .all(|f| f.finding.user.as_deref() == Some("bob")),
            "[{name}]"
        );

        let spray = b
            .findings
            .findings(&FindingQuery {
                rule_id: Some("push_spray".into()),
                limit: 100,
                ..FindingQuery::default()
            })
            .await
            .expect("by rule");
        assert_eq!(
            rules_and_users(&spray.findings),
            [("push_spray".into(), "carol".into())],
            "[{name}]"
        );

        let recent = b
            .findings
            .findings(&FindingQuery {
                since: Some(Timestamp::from_millis(T0 + 44 * 60_000)),
                rule_id: Some("push_flood".into()),
                limit: 100,
                ..FindingQuery::default()
            })
            .await
            .expect("since");
        assert_eq!(
            recent.findings.len(),
            3,
            "[{name}] the floods ending at minutes 44, 54 and 64 (`since` is inclusive)"
        );
    }
}

#[tokio::test]
async fn one_node_at_a_time_holds_a_pollers_lease() {
    for b in backends().await {
        let name = b.name;
        let first = b.findings.poller_lease("okta").await.expect("lease");
        assert!(first.is_some(), "[{name}] a free lease is taken");
        let other = b.findings.poller_lease("entra").await.expect("lease");
        assert!(other.is_some(), "[{name}] each source has its own");
        let second = b.findings.poller_lease("okta").await.expect("lease");
        if name == "postgres" {
            assert!(
                second.is_none(),
                "[{name}] a held lease is refused to another taker"
            );
            drop(first);
            // PostgreSQL ends the dropped session on its own time: ask a few times.
            let mut third = None;
            for _ in 0..200 {
                third = b.findings.poller_lease("okta").await.expect("lease");
                if third.is_some() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            assert!(
                third.is_some(),
                "[{name}] a dropped lease can be taken again"
            );
        } else {
            // One process serves a SQLite file: there is no one to share with.
            assert!(second.is_some(), "[{name}]");
        }
    }
}

#[tokio::test]
async fn the_engine_state_is_saved_with_the_pollers_checkpoints_and_replaced_whole() {
    for b in backends().await {
        let name = b.name;
        let s = &b.findings;
        assert_eq!(s.engine_state().await.expect("read"), None, "[{name}]");
        assert_eq!(s.checkpoint("okta").await.expect("read"), None, "[{name}]");

        let at = Timestamp::from_millis(T0);
        let cps = vec![
            ("okta".to_owned(), "{\"v\":1,\"since\":\"a\"}".to_owned()),
            ("duo".to_owned(), "{\"v\":1,\"mintime\":1}".to_owned()),
        ];
        s.save_engine_state("{\"format\":1}", &cps, at)
            .await
            .expect("save");
        assert_eq!(
            s.engine_state().await.expect("read").as_deref(),
            Some("{\"format\":1}"),
            "[{name}]"
        );
        assert_eq!(
            s.checkpoint("okta").await.expect("read").as_deref(),
            Some(cps[0].1.as_str()),
            "[{name}]"
        );

        // The next save replaces the state; a checkpoint not named again stays.
        let okta = vec![("okta".to_owned(), "{\"v\":1,\"since\":\"b\"}".to_owned())];
        s.save_engine_state("{\"format\":1,\"n\":2}", &okta, at.plus_secs(10))
            .await
            .expect("save again");
        assert_eq!(
            s.engine_state().await.expect("read").as_deref(),
            Some("{\"format\":1,\"n\":2}"),
            "[{name}]"
        );
        assert_eq!(
            s.checkpoint("okta").await.expect("read").as_deref(),
            Some(okta[0].1.as_str()),
            "[{name}]"
        );
        assert_eq!(
            s.checkpoint("duo").await.expect("read").as_deref(),
            Some(cps[1].1.as_str()),
            "[{name}]"
        );
    }
}
