-- 0003: witness cosignatures of checkpoints (C2SP tlog-cosignature, ADR-0019).
--
-- The PostgreSQL twin of migrations/0003_cosignatures.sql: one row per
-- checkpoint and cosigner, the newest cosignature by timestamp, kept beside
-- the log-signed note (never inside it).
CREATE TABLE cosignatures (
    track_id  BIGINT NOT NULL,
    size      BIGINT NOT NULL,
    cosigner  TEXT   NOT NULL,
    timestamp BIGINT NOT NULL CHECK (timestamp >= 0),
    line      TEXT   NOT NULL,
    PRIMARY KEY (track_id, size, cosigner),
    FOREIGN KEY (track_id, size) REFERENCES checkpoints (track_id, size)
);
