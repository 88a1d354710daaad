-- 0007: the delivery state that several nodes of one database share (ADR-0059).
--
-- The PostgreSQL twin of migrations/0007_delivery_state.sql. The log says what
-- is pending, settled, dead-lettered and escalated; these tables hold what it
-- does not, so that every node agrees on it. Times are TIMESTAMPTZ (microsecond
-- precision, as the SQLite twin's integers). None of it is evidence: losing it
-- costs a redelivery, a heartbeat or a replay refused by the start rule.

-- One row per leased message and recipient party: the attempts so far and when
-- the latest lease expires. A node that saw n attempts claims attempt n + 1
-- only if attempts is still at most n (compare-and-set: INSERT ... ON CONFLICT
-- ... DO UPDATE ... WHERE, which locks the row). Rows of settled messages are deleted.
CREATE TABLE delivery_leases (
    track      TEXT        NOT NULL,
    party      TEXT        NOT NULL,
    message_id TEXT        NOT NULL,
    attempts   INTEGER     NOT NULL CHECK (attempts > 0),
    visible_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (track, party, message_id)
);

-- Per track, how many lease claims were made: with the log size, the version
-- of a track (what a node reads to report every track after a lost LISTEN).
CREATE TABLE delivery_versions (
    track  TEXT   NOT NULL PRIMARY KEY,
    claims BIGINT NOT NULL DEFAULT 0
);

-- Each member's latest heartbeat (written coarsely: at most once per member per interval).
CREATE TABLE delivery_heartbeats (
    track  TEXT        NOT NULL,
    member TEXT        NOT NULL,
    party  TEXT        NOT NULL,
    at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (track, member)
);

-- Every RFC 9421 nonce accepted, until it leaves the replay window.
CREATE TABLE replay_nonces (
    track   TEXT        NOT NULL,
    key_id  TEXT        NOT NULL,
    nonce   TEXT        NOT NULL,
    expires TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (track, key_id, nonce)
);
CREATE INDEX replay_nonces_expiry ON replay_nonces (expires);

-- Who runs each track's periodic work, until when (renewed while it runs).
CREATE TABLE work_leases (
    scope   TEXT        NOT NULL PRIMARY KEY,
    holder  TEXT        NOT NULL,
    expires TIMESTAMPTZ NOT NULL
);
