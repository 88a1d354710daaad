"""Fixtures for the domain tests (the helpers live in ``track_world.py``).

- ``make_world``: the :class:`World` class (an empty world, nothing open);
- ``world``: a populated world (see :func:`track_world.populate`);
- ``members``: one member of every party kind and role.
"""

import pytest
from track_world import MEMBERS, World, populate


@pytest.fixture
def make_world() -> type[World]:
    return World


@pytest.fixture
def world() -> World:
    return populate(World())


@pytest.fixture
def members() -> tuple[str, ...]:
    return MEMBERS
