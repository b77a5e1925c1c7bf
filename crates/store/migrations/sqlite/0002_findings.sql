-- watch: findings, one row per episode (finding_key, see pushback_watch::finding_key).
-- Times are Unix milliseconds; body is the finding as JSON.
CREATE TABLE findings (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    finding_key   TEXT NOT NULL UNIQUE,
    rule_id       TEXT NOT NULL,
    user_name     TEXT,
    source        TEXT,
    severity      TEXT NOT NULL,
    window_start  INTEGER NOT NULL,
    window_end    INTEGER NOT NULL,
    stored_at     INTEGER NOT NULL,
    body          TEXT NOT NULL
);
CREATE INDEX findings_newest ON findings (window_end, seq);
CREATE INDEX findings_by_rule ON findings (rule_id, window_end, seq);
CREATE INDEX findings_by_user ON findings (user_name, window_end, seq);
