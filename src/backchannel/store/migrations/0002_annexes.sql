-- 0002: annex blobs, content-addressed per track, and the parties that uploaded them (ADR-0014).
--
-- An annex is opaque bytes (usually sealed to a recipient's X25519 key) that a
-- message names by its SHA-256. Annexes are not log entries: the log commits
-- to the digest, the blob lives here. The same bytes are stored once per
-- track; each party that uploads them is recorded once, in upload order
-- (rowid), because who uploaded a blob decides who may read it back.
CREATE TABLE annexes (
    track_id INTEGER NOT NULL REFERENCES tracks (id),
    digest   BLOB    NOT NULL CHECK (length(digest) = 32),
    data     BLOB    NOT NULL,
    PRIMARY KEY (track_id, digest)
);

CREATE TABLE annex_uploaders (
    track_id INTEGER NOT NULL,
    digest   BLOB    NOT NULL,
    party    TEXT    NOT NULL,
    UNIQUE (track_id, digest, party),
    FOREIGN KEY (track_id, digest) REFERENCES annexes (track_id, digest)
);
