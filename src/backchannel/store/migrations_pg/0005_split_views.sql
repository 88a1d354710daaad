-- 0005: witnesses' split-view alarms (issue #12: the console shows them).
--
-- The PostgreSQL twin of migrations/0005_split_views.sql: one row per
-- reporter and pair of notes, in the order stored (`seq`). The notes are
-- unique by their MD5, not their text: a b-tree entry is limited to about a
-- third of a page, and two signed notes may not fit (md5(text) is IMMUTABLE,
-- as an index expression must be; sha256 needs a bytea, and text-to-bytea
-- conversions are only STABLE). A collision could only hide a reporter's own
-- second alarm, as the reporter is part of the key.
CREATE TABLE split_views (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    track_id  BIGINT NOT NULL REFERENCES tracks (id),
    reporter  TEXT   NOT NULL,
    reported  BIGINT NOT NULL CHECK (reported >= 0),
    old_note  TEXT   NOT NULL,
    new_note  TEXT   NOT NULL,
    reason    TEXT   NOT NULL
);

CREATE UNIQUE INDEX split_views_once ON split_views (
    track_id, reporter, md5(old_note), md5(new_note)
);
