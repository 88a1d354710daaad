"""The SQLite store's fixed statements (moved out of :mod:`backchannel.store.sqlite` to keep it short).

Every value is bound as a parameter; nothing is interpolated. This module performs no I/O.
"""

from __future__ import annotations

__all__ = [
    "INSERT_ANNEX",
    "INSERT_SPLIT_VIEW",
    "INSERT_UPLOADER",
    "SELECT_ANNEX",
    "SELECT_CHECKPOINTS",
    "SELECT_COSIGNATURES",
    "SELECT_COSIGNED_SIZE",
    "SELECT_ENTRIES",
    "SELECT_SPLIT_VIEWS",
    "SELECT_UPLOADERS",
    "UPSERT_COSIGNATURE",
    "UPSERT_REPLAY_MARK",
]

SELECT_ENTRIES = (
    "SELECT e.seq, e.signed, e.salt, n.hash, e.key_version FROM entries AS e"
    " JOIN nodes AS n ON n.track_id = e.track_id AND n.level = 0 AND n.idx = e.seq"
    " WHERE e.track_id = ? AND e.seq >= ? AND e.seq < ? ORDER BY e.seq"
)
INSERT_ANNEX = (
    "INSERT INTO annexes (track_id, digest, data, key_version) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
INSERT_UPLOADER = (
    "INSERT INTO annex_uploaders (track_id, digest, party) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
)
SELECT_ANNEX = "SELECT data, key_version FROM annexes WHERE track_id = ? AND digest = ?"
SELECT_UPLOADERS = "SELECT party FROM annex_uploaders WHERE track_id = ? AND digest = ? ORDER BY rowid"
UPSERT_COSIGNATURE = (
    "INSERT INTO cosignatures (track_id, size, cosigner, timestamp, line) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (track_id, size, cosigner)"
    " DO UPDATE SET timestamp = excluded.timestamp, line = excluded.line"
    " WHERE excluded.timestamp > cosignatures.timestamp"
)
SELECT_COSIGNATURES = (
    "SELECT size, cosigner, timestamp, line FROM cosignatures"
    " WHERE track_id = ? AND size = ? ORDER BY cosigner"
)
SELECT_COSIGNED_SIZE = (
    "SELECT size FROM cosignatures WHERE track_id = ? GROUP BY size HAVING count(*) >= ?"
    " ORDER BY size DESC LIMIT 1"
)
UPSERT_REPLAY_MARK = (
    "INSERT INTO replay_marks (track, key_id, created) VALUES (?, ?, ?)"
    " ON CONFLICT (track, key_id) DO UPDATE SET created = excluded.created"
    " WHERE excluded.created > replay_marks.created"
)
INSERT_SPLIT_VIEW = (
    "INSERT INTO split_views (track_id, reporter, reported, old_note, new_note, reason)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (track_id, reporter, old_note, new_note) DO NOTHING"
)
SELECT_SPLIT_VIEWS = (
    "SELECT reporter, reported, old_note, new_note, reason FROM split_views WHERE track_id = ? ORDER BY seq"
)
SELECT_CHECKPOINTS = (
    "SELECT size, note FROM checkpoints WHERE track_id = ? AND size >= ? AND size <= ? ORDER BY size LIMIT ?"
)
