-- 0004: replay marks, so a request captured before a restart is not accepted after it (ADR-0024).
--
-- The replay window keeps nonces in memory and refuses every request created
-- before the node started. What that does not cover is a request created in
-- the future (a client clock running fast, within the allowed skew): for each
-- track and key, this table keeps the latest such `created` (Unix seconds)
-- accepted, written before the request is answered. After a restart, a request
-- of that key created at or before its mark is refused. Rows whose mark is
-- before the node's start are dropped when it starts.
CREATE TABLE replay_marks (
    track   TEXT    NOT NULL,
    key_id  TEXT    NOT NULL,
    created INTEGER NOT NULL CHECK (created >= 0),
    PRIMARY KEY (track, key_id)
) WITHOUT ROWID;
