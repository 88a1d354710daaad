-- 0007: the delivery state that several nodes of one database share (ADR-0059).
--
-- The log says what is pending, settled, dead-lettered and escalated; these
-- tables hold what it does not, so that every node agrees on it. Times are
-- microseconds since the Unix epoch (UTC). None of it is evidence: losing it
-- costs a redelivery, a heartbeat or a replay refused by the start rule.

-- One row per leased message and recipient party: the attempts so far and when
-- the latest lease expires. A node that saw n attempts claims attempt n + 1
-- only if attempts is still at most n (compare-and-set). Rows of settled
-- messages are deleted.
CREATE TABLE delivery_leases (
    track      TEXT    NOT NULL,
    party      TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    attempts   INTEGER NOT NULL CHECK (attempts > 0),
    visible_at INTEGER NOT NULL,
    PRIMARY KEY (track, party, message_id)
) WITHOUT ROWID;

-- Per track, how many lease claims were made: with the log size, the version a
-- polling node compares to learn that another node changed something.
CREATE TABLE delivery_versions (
    track   TEXT    NOT NULL PRIMARY KEY,
    claims  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Each member's latest heartbeat (written coarsely: at most once per member per interval).
CREATE TABLE delivery_heartbeats (
    track  TEXT    NOT NULL,
    member TEXT    NOT NULL,
    party  TEXT    NOT NULL,
    at     INTEGER NOT NULL,
    PRIMARY KEY (track, member)
) WITHOUT ROWID;

-- Every RFC 9421 nonce accepted, until it leaves the replay window.
CREATE TABLE replay_nonces (
    track   TEXT    NOT NULL,
    key_id  TEXT    NOT NULL,
    nonce   TEXT    NOT NULL,
    expires INTEGER NOT NULL,
    PRIMARY KEY (track, key_id, nonce)
) WITHOUT ROWID;
CREATE INDEX replay_nonces_expiry ON replay_nonces (expires);

-- Who runs each track's periodic work, until when (renewed while it runs).
CREATE TABLE work_leases (
    scope   TEXT    NOT NULL PRIMARY KEY,
    holder  TEXT    NOT NULL,
    expires INTEGER NOT NULL
) WITHOUT ROWID;
