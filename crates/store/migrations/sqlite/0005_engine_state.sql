-- watch, live: the detection engine's state (events held for reordering, open
-- correlation windows, the watermark), saved in the same transaction as the pollers'
-- checkpoints, so that after a restart the engine and the pollers go on together from
-- the same point: an attack straddling the restart is seen whole, and nothing twice.
CREATE TABLE engine_state (
    name        TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);
