"""The SQL statements of :class:`~backchannel.store.postgres.PostgresEventStore` (``%s`` placeholders).

Constants only: kept apart so the store module stays readable. Every value is a
bound parameter; no statement is built from data.
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
    "SELECT_NODES",
    "SELECT_SPLIT_VIEWS",
    "SELECT_UPLOADERS",
    "UPSERT_COSIGNATURE",
    "UPSERT_REPLAY_MARK",
]

# The range is given on both sides of the join: without statistics (a new schema, before
# autovacuum's first ANALYZE) the planner otherwise walks every leaf of the track per read.
SELECT_ENTRIES = (
    "SELECT e.seq, e.signed, e.salt, e.key_version, n.hash FROM entries AS e"
    " JOIN nodes AS n ON n.track_id = e.track_id AND n.level = 0 AND n.idx = e.seq"
    " WHERE e.track_id = %(track)s AND e.seq >= %(start)s AND e.seq < %(stop)s"
    " AND n.track_id = %(track)s AND n.idx >= %(start)s AND n.idx < %(stop)s ORDER BY e.seq"
)
SELECT_NODES = (
    "SELECT n.level, n.idx, n.hash FROM unnest(%s::smallint[], %s::bigint[]) AS w (level, idx)"
    " JOIN nodes AS n ON n.track_id = %s AND n.level = w.level AND n.idx = w.idx"
)
INSERT_ANNEX = (
    "INSERT INTO annexes (track_id, digest, data, key_version) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
)
INSERT_UPLOADER = (
    "INSERT INTO annex_uploaders (track_id, digest, party) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
)
SELECT_ANNEX = "SELECT data, key_version FROM annexes WHERE track_id = %s AND digest = %s"
SELECT_UPLOADERS = "SELECT party FROM annex_uploaders WHERE track_id = %s AND digest = %s ORDER BY seq"
UPSERT_COSIGNATURE = (
    "INSERT INTO cosignatures (track_id, size, cosigner, timestamp, line) VALUES (%s, %s, %s, %s, %s)"
    " ON CONFLICT (track_id, size, cosigner)"
    " DO UPDATE SET timestamp = excluded.timestamp, line = excluded.line"
    " WHERE excluded.timestamp > cosignatures.timestamp"
)
SELECT_COSIGNATURES = (
    "SELECT size, cosigner, timestamp, line FROM cosignatures"
    " WHERE track_id = %s AND size = %s ORDER BY cosigner"
)
SELECT_COSIGNED_SIZE = (
    "SELECT size FROM cosignatures WHERE track_id = %s GROUP BY size HAVING count(*) >= %s"
    " ORDER BY size DESC LIMIT 1"
)
UPSERT_REPLAY_MARK = (
    "INSERT INTO replay_marks (track, key_id, created) VALUES (%s, %s, %s)"
    " ON CONFLICT (track, key_id) DO UPDATE SET created = excluded.created"
    " WHERE excluded.created > replay_marks.created"
)
INSERT_SPLIT_VIEW = (
    "INSERT INTO split_views (track_id, reporter, reported, old_note, new_note, reason)"
    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)
SELECT_SPLIT_VIEWS = (
    "SELECT reporter, reported, old_note, new_note, reason FROM split_views WHERE track_id = %s ORDER BY seq"
)
SELECT_CHECKPOINTS = (
    "SELECT size, note FROM checkpoints WHERE track_id = %s AND size >= %s AND size <= %s"
    " ORDER BY size LIMIT %s"
)
