-- 0002: annex blobs, content-addressed per track, and the parties that uploaded them (ADR-0014).
--
-- The PostgreSQL twin of migrations/0002_annexes.sql. The same bytes are
-- stored once per track; each party that uploads them is recorded once, in
-- upload order (the identity column `seq` stands in for SQLite's rowid),
-- because who uploaded a blob decides who may read it back.
CREATE TABLE annexes (
    track_id BIGINT NOT NULL REFERENCES tracks (id),
    digest   BYTEA  NOT NULL CHECK (octet_length(digest) = 32),
    data     BYTEA  NOT NULL,
    PRIMARY KEY (track_id, digest)
);

CREATE TABLE annex_uploaders (
    seq      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    track_id BIGINT NOT NULL,
    digest   BYTEA  NOT NULL,
    party    TEXT   NOT NULL,
    UNIQUE (track_id, digest, party),
    FOREIGN KEY (track_id, digest) REFERENCES annexes (track_id, digest)
);
