-- 0001: the initial schema: tracks, their entries, Merkle nodes and checkpoints.
--
-- Applied by backchannel.store.sqlite inside one write transaction and recorded
-- in schema_version (which the migration runner creates itself). Never edit a
-- released delta: add 0002_<what>.sql instead.
--
-- Every other table refers to a track by its small integer id, not its name,
-- to keep the (many) node and entry keys short.
CREATE TABLE tracks (
    id      INTEGER PRIMARY KEY,
    name    TEXT    NOT NULL UNIQUE,
    origin  TEXT    NOT NULL,
    log_key TEXT    NOT NULL,
    size    INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0)
);

-- One row per log entry: the canonical signed-event bytes and the leaf salt.
-- The leaf hash lives in nodes (level 0). A rowid table on purpose: signed
-- events are often larger than the ~1 KiB a WITHOUT ROWID row keeps inline on
-- a 4 KiB page; the PRIMARY KEY index (track_id, seq) stays small.
CREATE TABLE entries (
    track_id INTEGER NOT NULL REFERENCES tracks (id),
    seq      INTEGER NOT NULL CHECK (seq >= 0),
    signed   BLOB    NOT NULL,
    salt     BLOB    NOT NULL,
    PRIMARY KEY (track_id, seq)
);

-- Every perfect-subtree node of every track's Merkle tree (about two per
-- entry): (level, idx) covers leaves [idx << level, (idx + 1) << level); level
-- 0 are the leaf hashes. Small fixed-size rows: WITHOUT ROWID stores them in
-- the primary key b-tree itself, with no second index.
CREATE TABLE nodes (
    track_id INTEGER NOT NULL REFERENCES tracks (id),
    level    INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx      INTEGER NOT NULL CHECK (idx >= 0),
    hash     BLOB    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (track_id, level, idx)
) WITHOUT ROWID;

-- The log's signed checkpoints (C2SP signed notes), one per appended batch.
-- A rowid table: witness co-signatures make notes grow.
CREATE TABLE checkpoints (
    track_id INTEGER NOT NULL REFERENCES tracks (id),
    size     INTEGER NOT NULL CHECK (size > 0),
    note     TEXT    NOT NULL,
    PRIMARY KEY (track_id, size)
);
