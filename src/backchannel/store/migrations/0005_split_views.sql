-- 0005: witnesses' split-view alarms (issue #12: the console shows them).
--
-- A witness that is shown two checkpoints signed by the log key that cannot
-- both be true refuses to cosign and reports both notes. The service checks
-- the notes' signatures and that one of them is not a checkpoint of the log it
-- holds, then keeps the alarm here, beside the log (an alarm is evidence about
-- the log, not an event in it). One row per reporter and pair of notes.
CREATE TABLE split_views (
    track_id  INTEGER NOT NULL REFERENCES tracks (id),
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    reporter  TEXT    NOT NULL,
    reported  INTEGER NOT NULL CHECK (reported >= 0),
    old_note  TEXT    NOT NULL,
    new_note  TEXT    NOT NULL,
    reason    TEXT    NOT NULL,
    UNIQUE (track_id, reporter, old_note, new_note)
);
