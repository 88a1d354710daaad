-- 0003: witness cosignatures of checkpoints (C2SP tlog-cosignature, ADR-0019).
--
-- A cosignature is kept beside the log-signed note, never inside it: the note
-- in `checkpoints` stays exactly what the log signed. One row per checkpoint
-- and cosigner (a witness member id): the newest cosignature by timestamp. The
-- service verified the line against the cosigner's enrolled key and the
-- checkpoint before storing it; readers verify it again.
CREATE TABLE cosignatures (
    track_id  INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    cosigner  TEXT    NOT NULL,
    timestamp INTEGER NOT NULL CHECK (timestamp >= 0),
    line      TEXT    NOT NULL,
    PRIMARY KEY (track_id, size, cosigner),
    FOREIGN KEY (track_id, size) REFERENCES checkpoints (track_id, size)
);
