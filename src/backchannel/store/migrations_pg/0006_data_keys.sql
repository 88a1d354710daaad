-- 0006: encryption at rest: wrapped data keys, and which key sealed a row (issue #14, ADR-0057).
--
-- The PostgreSQL twin of migrations/0006_data_keys.sql. With a master key
-- configured, an entry's signed bytes and salt and an annex's data are sealed
-- (AES-256-GCM) with the track's current data key. Data keys are kept here only
-- wrapped by the master key, which is never stored. Rotation adds a version; old
-- versions stay so old rows still open.
--
-- master_key_check holds one row once encryption was first on: the id (a
-- one-way fingerprint) of the master key and a known constant sealed with it,
-- so a wrong key is refused at start-up. A schema with this row refuses to
-- open without a master key.
CREATE TABLE master_key_check (
    id          SMALLINT PRIMARY KEY CHECK (id = 1),
    master_id   TEXT     NOT NULL,
    check_value BYTEA    NOT NULL,
    created     BIGINT   NOT NULL
);

-- One row per data key version of a track (by name, as replay_marks).
CREATE TABLE data_keys (
    track     TEXT    NOT NULL,
    version   INTEGER NOT NULL CHECK (version >= 1),
    created   BIGINT  NOT NULL CHECK (created >= 0),
    master_id TEXT    NOT NULL,
    wrapped   BYTEA   NOT NULL,
    PRIMARY KEY (track, version)
);

-- The data key version that sealed the row; NULL: stored in plain text (written
-- without a master key, e.g. before encryption was turned on).
ALTER TABLE entries ADD COLUMN key_version INTEGER;

ALTER TABLE annexes ADD COLUMN key_version INTEGER;
