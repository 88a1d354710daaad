"""Encryption at rest in the PostgreSQL store (ADR-0057): what the schema holds, and what opens it.

A fresh schema per test (the ``postgres_url`` fixture); under ``CI=true`` an
unreachable server fails these tests.
"""

import hashlib
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from psycopg import sql

from backchannel.errors import ConfigurationError, NotFoundError, VerificationError
from backchannel.log.signing import SigningKey
from backchannel.service.log import Draft, LogWriter
from backchannel.store.base import EventStore
from backchannel.store.encryption import MasterKey
from backchannel.store.memory import MemoryEventStore
from backchannel.store.postgres import PostgresEventStore
from backchannel.testing._contract_helpers import capture_batch
from backchannel.testing.clock import FakeClock
from backchannel.testing.contracts import log_signer
from backchannel.testing.salts import UnsafeDeterministicSalts

AUTHOR = SigningKey.from_seed(bytes([7]) * 32)
MASTER = MasterKey(bytes(range(32)), "test key")
WRONG = MasterKey(bytes(range(1, 33)), "file wrong.key")
SECRET = "Zanzibar-fallback-position-4417"  # a body no other byte sequence in the schema contains
SALT_SEED = b"salt-seed-for-the-no-plaintext-test"


def drafts(count: int, first: int = 0) -> list[Draft]:
    return [
        Draft("statement.made", "us/alice", {"n": n, "text": f"{SECRET} #{n}"}, AUTHOR)
        for n in range(first, first + count)
    ]


def writer_for(store: EventStore) -> LogWriter:
    clock = FakeClock(autojump=timedelta(seconds=1))
    return LogWriter(store, log_signer(), clock=clock, salts=UnsafeDeterministicSalts(SALT_SEED))


def raw(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url, autocommit=True)


def every_stored_byte(url: str) -> bytes:
    """Every bytea and text value of every table in the store's schema, concatenated."""
    with raw(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND data_type IN ('bytea', 'text')"
            " ORDER BY table_name, column_name"
        ).fetchall()
        assert {str(t) for t, _, _ in columns} >= {"entries", "annexes", "data_keys", "checkpoints"}
        chunks: list[bytes] = []
        for table, column, _ in columns:
            query = sql.SQL("SELECT {} FROM {}").format(
                sql.Identifier(str(column)), sql.Identifier(str(table))
            )
            for (value,) in conn.execute(query).fetchall():
                chunks.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\x00".join(chunks)


@pytest.fixture
def store(postgres_url: str) -> Iterator[PostgresEventStore]:
    with PostgresEventStore(postgres_url, max_size=2, master_key=MASTER) as store:
        yield store


def test_no_table_holds_a_plaintext_payload(store: PostgresEventStore, postgres_url: str) -> None:
    writer = writer_for(store)
    writer.open_track("t")
    writer.append("t", drafts(20))
    store.put_annex("t", f"annex {SECRET}".encode(), "usa")
    entries = list(store.read("t"))
    salts = [e.salt for e in entries]
    assert all(len(salt) == 32 for salt in salts)
    assert SECRET.encode() in entries[1].signed_bytes  # callers see plain text
    data = every_stored_byte(postgres_url)
    assert len(data) > 10_000
    assert SECRET.encode() not in data
    assert b"statement.made" not in data
    assert not [salt for salt in salts if salt in data]
    assert entries[0].leaf_hash in data  # hashes stay visible: proofs are unchanged


def test_reads_open_sealed_rows_and_hashes_match_the_plaintext(
    store: PostgresEventStore, postgres_url: str
) -> None:
    writer = writer_for(store)
    writer.open_track("t")
    writer.append("t", drafts(3))
    plain = MemoryEventStore()
    plain_writer = writer_for(plain)
    plain_writer.open_track("t")
    plain_writer.append("t", drafts(3))
    assert list(store.read("t")) == list(plain.read("t"))  # same bytes, same leaves
    assert store.latest_checkpoint("t") == plain.latest_checkpoint("t")
    with raw(postgres_url) as conn:
        versions = conn.execute("SELECT DISTINCT key_version FROM entries").fetchall()
        check = conn.execute("SELECT master_id FROM master_key_check").fetchall()
    assert versions == [(1,)]
    assert check == [(MASTER.key_id,)]


def test_an_encrypted_schema_refuses_to_open_without_its_key_or_with_another(
    store: PostgresEventStore, postgres_url: str
) -> None:
    writer_for(store).open_track("t")
    store.close()
    with pytest.raises(
        ConfigurationError, match=r"PostgreSQL store .* is encrypted at rest: give its master key"
    ):
        PostgresEventStore(postgres_url)
    with pytest.raises(
        ConfigurationError, match=r"wrong master key: .* the key from file wrong.key is mk:[0-9a-f]{16}"
    ):
        PostgresEventStore(postgres_url, master_key=WRONG)
    with PostgresEventStore(postgres_url, master_key=MASTER) as again:
        assert [info.track for info in again.list_tracks()] == ["t"]


def test_an_empty_encrypted_schema_knows_its_key_too(postgres_url: str) -> None:
    PostgresEventStore(postgres_url, master_key=MASTER).close()
    with pytest.raises(ConfigurationError, match="wrong master key"):
        PostgresEventStore(postgres_url, master_key=WRONG)


def test_a_plaintext_schema_keeps_old_rows_readable_and_seals_new_ones(postgres_url: str) -> None:
    with PostgresEventStore(postgres_url) as plain:
        assert plain.cipher is None
        writer = writer_for(plain)
        writer.open_track("t")
        writer.append("t", drafts(2))
        plain.put_annex("t", b"old annex", "usa")
    with PostgresEventStore(postgres_url, master_key=MASTER) as store:
        writer = writer_for(store)
        writer.append("t", drafts(2, first=2))
        store.put_annex("t", b"new annex", "usa")
        entries = list(store.read("t"))
        assert [e.decode().signed.event.body["n"] for e in entries] == [0, 1, 2, 3]  # type: ignore[index,call-overload]
        assert all(e.computed_leaf_hash() == e.leaf_hash for e in entries)
        old = store.get_annex("t", hashlib.sha256(b"old annex").digest())
        new = store.get_annex("t", hashlib.sha256(b"new annex").digest())
        assert (old and old.data, new and new.data) == (b"old annex", b"new annex")
    with raw(postgres_url) as conn:
        rows = conn.execute("SELECT seq, key_version FROM entries ORDER BY seq").fetchall()
        annexes = sorted(
            conn.execute("SELECT (data = 'old annex'::bytea)::int, key_version FROM annexes").fetchall(),
            key=str,
        )
    assert rows == [(0, None), (1, None), (2, 1), (3, 1)]
    assert annexes == [(0, 1), (1, None)]


def test_rotation_keeps_old_entries_readable_and_new_ones_use_the_new_key(
    store: PostgresEventStore, postgres_url: str
) -> None:
    writer = writer_for(store)
    writer.open_track("t")
    writer.append("t", drafts(2))
    assert store.rotate_data_key("t") == 2
    writer.append("t", drafts(2, first=2))
    assert len(list(store.read("t"))) == 4
    with PostgresEventStore(postgres_url, master_key=MASTER) as other:  # another node sees every version
        assert [e.seq for e in other.read("t")] == [0, 1, 2, 3]
        assert other.rotate_data_key("t") == 3
    writer.append("t", drafts(1, first=4))  # this node's cache is at v2: v3 is another node's
    assert [e.seq for e in store.read("t")] == [0, 1, 2, 3, 4]
    with raw(postgres_url) as conn:
        versions = conn.execute("SELECT seq, key_version FROM entries ORDER BY seq").fetchall()
        keys = conn.execute(
            "SELECT version, master_id FROM data_keys WHERE track = 't' ORDER BY 1"
        ).fetchall()
    assert versions[:4] == [(0, 1), (1, 1), (2, 2), (3, 2)]
    assert versions[4] == (4, 2)  # a node seals with the version it loaded until it restarts
    assert keys == [(1, MASTER.key_id), (2, MASTER.key_id), (3, MASTER.key_id)]


def test_rotation_needs_a_known_track_and_a_master_key(postgres_url: str) -> None:
    with PostgresEventStore(postgres_url) as plain:
        with pytest.raises(NotFoundError):
            plain.rotate_data_key("nope")
        writer_for(plain).open_track("t")
        with pytest.raises(ConfigurationError, match="rotating a data key of .* give its master key"):
            plain.rotate_data_key("t")


def test_an_altered_or_swapped_ciphertext_is_a_verification_error_not_garbage(
    store: PostgresEventStore, postgres_url: str
) -> None:
    writer = writer_for(store)
    writer.open_track("t")
    writer.append("t", drafts(3))
    store.put_annex("t", b"annex", "usa")
    with raw(
        postgres_url
    ) as conn:  # entry 1 gets entry 2's sealed bytes: both valid ciphertexts, wrong place
        conn.execute("UPDATE entries SET signed = (SELECT signed FROM entries WHERE seq = 2) WHERE seq = 1")
        conn.execute("UPDATE annexes SET data = set_byte(data, 20, get_byte(data, 20) # 1)")
    with PostgresEventStore(postgres_url, master_key=MASTER) as again:
        with pytest.raises(VerificationError, match=r"entry.signed at 1 does not decrypt with data key v1"):
            list(again.read("t"))
        assert [e.seq for e in again.read("t", 2)] == [2]
        with pytest.raises(VerificationError, match="annex at .* does not decrypt"):
            again.get_annex("t", hashlib.sha256(b"annex").digest())


def test_sealed_rows_without_a_master_key_are_refused_not_returned_as_bytes(
    store: PostgresEventStore, postgres_url: str
) -> None:
    writer = writer_for(store)
    writer.open_track("t")
    writer.append("t", drafts(1))
    store.put_annex("t", b"annex", "usa")
    with raw(
        postgres_url
    ) as conn:  # someone deleted the check value, hoping to read the rows without the key
        conn.execute("DELETE FROM master_key_check")
    with PostgresEventStore(postgres_url) as keyless:
        with pytest.raises(ConfigurationError, match="track 't' is encrypted at rest"):
            list(keyless.read("t"))
        with pytest.raises(ConfigurationError, match="track 't' is encrypted at rest"):
            keyless.get_annex("t", hashlib.sha256(b"annex").digest())


def test_an_append_to_an_unknown_track_makes_no_data_key(
    store: PostgresEventStore, postgres_url: str
) -> None:
    elsewhere = MemoryEventStore()
    writer_for(elsewhere).open_track("ghost")
    batch, size = capture_batch(elsewhere, "ghost", 2)
    with pytest.raises(NotFoundError, match="ghost"):
        store.append(batch, size)
    with raw(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM data_keys").fetchone() == (0,)


def test_two_nodes_opening_a_fresh_schema_with_the_same_key_agree(postgres_url: str) -> None:
    with (
        PostgresEventStore(postgres_url, master_key=MASTER) as one,
        PostgresEventStore(postgres_url, master_key=MASTER) as two,
    ):
        writer_for(one).open_track("t")
        writer_for(one).append("t", drafts(2))
        writer_for(two).append("t", drafts(1, first=2))
        assert [e.seq for e in one.read("t")] == [0, 1, 2]
        assert one.quick_check() == []
