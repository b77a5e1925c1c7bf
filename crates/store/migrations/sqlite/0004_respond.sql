-- respond: incidents with their timelines, the claims that keep actions from running
-- twice, poller checkpoints, and what a sink could not deliver. Times are Unix ms.
CREATE TABLE incidents (
    id               TEXT PRIMARY KEY,
    state            TEXT NOT NULL,
    severity         TEXT NOT NULL,
    title            TEXT NOT NULL,
    subject          TEXT NOT NULL,
    owner            TEXT,
    opened_at        INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    acknowledged_at  INTEGER,
    resolved_at      INTEGER,
    failed_actions   INTEGER NOT NULL DEFAULT 0
);
-- A subject has at most one incident that is not resolved.
CREATE UNIQUE INDEX incidents_unresolved ON incidents (subject) WHERE state <> 'resolved';
CREATE INDEX incidents_newest ON incidents (opened_at, id);

CREATE TABLE incident_timeline (
    seq          INTEGER PRIMARY KEY,
    incident_id  TEXT NOT NULL REFERENCES incidents (id),
    at           INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    summary      TEXT NOT NULL,
    detail       TEXT NOT NULL
);
CREATE INDEX incident_timeline_by_incident ON incident_timeline (incident_id, at, seq);

CREATE TABLE incident_findings (
    incident_id  TEXT NOT NULL REFERENCES incidents (id),
    finding_key  TEXT NOT NULL,
    PRIMARY KEY (incident_id, finding_key)
);

CREATE TABLE incident_actions (
    incident_id  TEXT NOT NULL REFERENCES incidents (id),
    step         TEXT NOT NULL,
    state        TEXT NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (incident_id, step)
);

CREATE TABLE poll_checkpoints (
    source      TEXT PRIMARY KEY,
    checkpoint  TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE dead_letters (
    seq         INTEGER PRIMARY KEY,
    sink        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    error       TEXT NOT NULL,
    body        TEXT NOT NULL
);

-- guard: a step-up requirement set by the playbook (lifted by an admin), and frozen
-- devices (neither fetch nor answer until an admin unfreezes them).
ALTER TABLE user_state ADD COLUMN step_up_since INTEGER;
ALTER TABLE devices ADD COLUMN frozen_at INTEGER;
