-- 0001: the feed store: event reports, append-only and hash-chained, and the
-- analyst's source reliabilities (append-only too: the latest per source wins).
--
-- Applied by backchannel.forecast.store inside one write transaction and
-- recorded in schema_version. Never edit a released delta: add 0002_<what>.sql.

-- One row per distinct report (by digest). body is the report's RFC 8785
-- canonical JSON, digest its SHA-256, chain = SHA-256(previous chain || digest)
-- with 32 zero bytes before the first row: an audit recomputes all three.
CREATE TABLE reports (
    seq         INTEGER PRIMARY KEY CHECK (seq >= 1),
    digest      TEXT    NOT NULL UNIQUE CHECK (length(digest) = 64),
    body        TEXT    NOT NULL,
    chain       TEXT    NOT NULL CHECK (length(chain) = 64),
    imported_at TEXT    NOT NULL,
    batch       TEXT    NOT NULL
);

CREATE TRIGGER reports_no_update BEFORE UPDATE ON reports
BEGIN
    SELECT RAISE(ABORT, 'feed reports are append-only');
END;

CREATE TRIGGER reports_no_delete BEFORE DELETE ON reports
BEGIN
    SELECT RAISE(ABORT, 'feed reports are append-only');
END;

CREATE TABLE reliability (
    seq         INTEGER PRIMARY KEY,
    source      TEXT    NOT NULL,
    reliability REAL    NOT NULL CHECK (reliability >= 0 AND reliability <= 1),
    set_at      TEXT    NOT NULL
);

CREATE TRIGGER reliability_no_update BEFORE UPDATE ON reliability
BEGIN
    SELECT RAISE(ABORT, 'reliability settings are append-only');
END;

CREATE TRIGGER reliability_no_delete BEFORE DELETE ON reliability
BEGIN
    SELECT RAISE(ABORT, 'reliability settings are append-only');
END;
