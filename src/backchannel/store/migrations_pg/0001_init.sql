-- 0001: the initial schema: tracks, their entries, Merkle nodes and checkpoints.
--
-- The PostgreSQL twin of migrations/0001_init.sql. Applied by
-- backchannel.store._pg_schema inside one transaction (under an advisory lock,
-- so two nodes starting together do not both migrate) and recorded in
-- schema_version, which the runner creates itself. Never edit a released
-- delta: add 0002_<what>.sql instead. Tables are created in the first schema
-- of the connection's search_path.
--
-- Every other table refers to a track by its small integer id, not its name,
-- to keep the (many) node and entry keys short. Sizes and positions are BIGINT,
-- bytes are BYTEA.
CREATE TABLE tracks (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name    TEXT   NOT NULL UNIQUE,
    origin  TEXT   NOT NULL,
    log_key TEXT   NOT NULL,
    size    BIGINT NOT NULL DEFAULT 0 CHECK (size >= 0)
);

-- One row per log entry: the canonical signed-event bytes and the leaf salt.
-- The leaf hash lives in nodes (level 0).
CREATE TABLE entries (
    track_id BIGINT NOT NULL REFERENCES tracks (id),
    seq      BIGINT NOT NULL CHECK (seq >= 0),
    signed   BYTEA  NOT NULL,
    salt     BYTEA  NOT NULL,
    PRIMARY KEY (track_id, seq)
);

-- Every perfect-subtree node of every track's Merkle tree (about two per
-- entry): (level, idx) covers leaves [idx << level, (idx + 1) << level); level
-- 0 are the leaf hashes.
CREATE TABLE nodes (
    track_id BIGINT   NOT NULL REFERENCES tracks (id),
    level    SMALLINT NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx      BIGINT   NOT NULL CHECK (idx >= 0),
    hash     BYTEA    NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (track_id, level, idx)
);

-- The log's signed checkpoints (C2SP signed notes), one per appended batch.
CREATE TABLE checkpoints (
    track_id BIGINT NOT NULL REFERENCES tracks (id),
    size     BIGINT NOT NULL CHECK (size > 0),
    note     TEXT   NOT NULL,
    PRIMARY KEY (track_id, size)
);
