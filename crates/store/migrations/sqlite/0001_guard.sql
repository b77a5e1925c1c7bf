-- guard: apps, users, devices, challenges, nonces, audit log. Times are Unix milliseconds.
CREATE TABLE admin_keys (
    id          TEXT PRIMARY KEY,
    key_hash    BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE apps (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    key_hash    BLOB NOT NULL,
    mode        TEXT,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    login         TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE user_state (
    user_id           INTEGER PRIMARY KEY REFERENCES users (id),
    last_approval_at  INTEGER,
    backoff_level     INTEGER NOT NULL DEFAULT 0,
    backoff_until     INTEGER,
    failures          INTEGER NOT NULL DEFAULT 0,
    locked_until      INTEGER,
    lock_reason       TEXT,
    reset_at          INTEGER
);

CREATE TABLE enrolments (
    token_hash  BLOB PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    created_at  INTEGER NOT NULL
);

CREATE TABLE devices (
    id          TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    login       TEXT NOT NULL,
    name        TEXT NOT NULL,
    key_type    TEXT NOT NULL,
    public_key  BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX devices_by_user ON devices (user_id);

CREATE TABLE challenges (
    id              TEXT PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users (id),
    login           TEXT NOT NULL,
    app_id          TEXT NOT NULL,
    status          TEXT NOT NULL,
    reason          TEXT,
    code_hash       BLOB NOT NULL,
    context_json    TEXT NOT NULL,
    context_sha256  TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    decided_at      INTEGER,
    device_id       TEXT
);
CREATE INDEX challenges_by_user_time ON challenges (user_id, created_at);
CREATE INDEX challenges_pending_by_user ON challenges (user_id) WHERE status = 'pending';
CREATE INDEX challenges_pending_by_expiry ON challenges (expires_at) WHERE status = 'pending';

CREATE TABLE device_nonces (
    device_id   TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (device_id, nonce)
) WITHOUT ROWID;
CREATE INDEX device_nonces_by_expiry ON device_nonces (expires_at);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    severity   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    actor      TEXT NOT NULL,
    detail     TEXT NOT NULL,
    seq        INTEGER,
    prev_hash  TEXT,
    hash       TEXT
);
CREATE INDEX audit_log_unsealed ON audit_log (id) WHERE seq IS NULL;
CREATE UNIQUE INDEX audit_log_by_seq ON audit_log (seq) WHERE seq IS NOT NULL;

CREATE TABLE audit_head (
    one   INTEGER PRIMARY KEY CHECK (one = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (one, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
