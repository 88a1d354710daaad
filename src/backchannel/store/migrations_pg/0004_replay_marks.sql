-- 0004: replay marks, so a request captured before a restart is not accepted after it (ADR-0024).
--
-- The PostgreSQL twin of migrations/0004_replay_marks.sql: for each track and
-- key, the latest future-dated `created` (Unix seconds) accepted. Shared by
-- every node on the database, so a request accepted by one node is refused by
-- the others after their restart too.
CREATE TABLE replay_marks (
    track   TEXT   NOT NULL,
    key_id  TEXT   NOT NULL,
    created BIGINT NOT NULL CHECK (created >= 0),
    PRIMARY KEY (track, key_id)
);
