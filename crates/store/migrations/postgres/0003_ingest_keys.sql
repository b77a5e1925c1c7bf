-- Ingest keys (pbi.<id>.<secret>): the SHA-256 of the secret, never the secret.
CREATE TABLE ingest_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    key_hash    BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);
