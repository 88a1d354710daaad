"""Fan work out to a Ray cluster: one helper for every sweep (ADR-0043, ADR-0037).

Both the rehearsal sweep (:mod:`backchannel.sim.sweep`) and the negotiation
tournament (:mod:`backchannel.negotiation.tournament`) split their work into
chunks and, with ``--ray-address``, run each chunk as a Ray task.
:func:`ray_map` is that loop: it connects (once per process), puts the data
every chunk shares into Ray's object store once, submits one task per chunk and
yields each chunk's result as its task finishes (not in submission order).

Ray is the optional extra ``backchannel[ray]``; it is imported only here and
only when a Ray address is given. This module does not choose chunk sizes or
run anything locally (the callers do).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from backchannel.errors import ConfigurationError

__all__ = ["ray_map"]

_Item = TypeVar("_Item")
_Shared = TypeVar("_Shared")
_Result = TypeVar("_Result")


def ray_map(
    fn: Callable[[_Item, _Shared], _Result], items: Iterable[_Item], shared: _Shared, address: str
) -> Iterator[_Result]:
    """Run ``fn(item, shared)`` for each item as a Ray task; yield results as tasks finish.

    Args:
        fn: A module-level function (Ray pickles it by reference).
        items: One task's argument each.
        shared: What every task reads; put into the object store once.
        address: The cluster (``"auto"``, ``"ray://host:10001"``, a GCS address).

    Raises:
        ConfigurationError: Ray is not installed.
    """
    try:
        import ray
    except ImportError as e:
        raise ConfigurationError("ray_address: Ray is not installed (pip install 'backchannel[ray]')") from e
    if not ray.is_initialized():
        ray.init(address=address)
    remote = ray.remote(fn)
    shared_ref = ray.put(shared)
    pending = [remote.remote(item, shared_ref) for item in items]
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        yield ray.get(ready[0])
