"""A throwaway PostgreSQL schema per test, for tests that need the real server.

:func:`fresh_schema` creates a schema with a unique name on the server named by
``BACKCHANNEL_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``),
yields a URL whose connections use it (``options=-csearch_path=<schema>``),
and drops it (``CASCADE``) afterwards, so tests of several processes can share
one server. :func:`require_postgres` decides what an unreachable server means:
under ``CI=true`` a failure, elsewhere a skip. ``tests/conftest.py`` wraps both
in the ``postgres_url`` fixture.

This module needs pytest and psycopg.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["DEFAULT_SERVER", "fresh_schema", "require_postgres", "schema_url", "scratch_schema", "server_url"]

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    """The test server's URL: ``BACKCHANNEL_TEST_POSTGRES``, or the local default."""
    return os.environ.get("BACKCHANNEL_TEST_POSTGRES") or DEFAULT_SERVER


def schema_url(base: str, schema: str) -> str:
    """``base`` with ``options=-csearch_path=<schema>`` added to its query."""
    parts = urlsplit(base)
    option = "options=" + quote(f"-csearch_path={schema}", safe="")
    query = f"{parts.query}&{option}" if parts.query else option
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def require_postgres(base: str | None = None) -> str:
    """Check the test server answers; skip the test if not (fail it under ``CI=true``).

    Returns:
        The server URL.
    """
    import pytest

    url = base or server_url()
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        message = f"PostgreSQL is not reachable at {url}: {e}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: a test that needs PostgreSQL fails without it)")
        pytest.skip(message)
    return url


@contextlib.contextmanager
def fresh_schema(base: str | None = None, prefix: str = "bc_test") -> Iterator[str]:
    """Create a uniquely named schema; yield a URL that uses it; drop it afterwards.

    Args:
        base: The server URL (default :func:`server_url`), checked with :func:`require_postgres`.
        prefix: The schema name's prefix (a random suffix makes it unique).

    Yields:
        The server URL with ``options=-csearch_path=<schema>``.
    """
    with scratch_schema(require_postgres(base), prefix) as url:
        yield url


@contextlib.contextmanager
def scratch_schema(base: str, prefix: str) -> Iterator[str]:
    """Create a uniquely named schema on ``base``; yield a URL that uses it; drop it afterwards.

    No reachability check and no pytest: the benchmarks use it as it is.
    """
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield schema_url(base, schema)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
