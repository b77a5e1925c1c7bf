-- guard: a version on each user's counters, bumped by every write of them. Opening a
-- challenge and recording an answer read without locking, then write only if the
-- version is still the one they read (one statement on PostgreSQL); whoever changed the
-- user meanwhile made them read again.
ALTER TABLE user_state ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
