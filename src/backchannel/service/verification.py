"""Signatures verified ahead of the committer, on worker threads (issue #13, ADR-0050).

Verifying a command's Ed25519 signature was the largest single cost of the one
thread that decides and appends (the group committer). :class:`AheadOfCommit`
moves it off that thread: before a group reaches the committer, worker threads
(:class:`~backchannel.service.committer.GroupCommitter`'s preparers; pyca's
``verify`` releases the GIL) look up the key each command names in the track's
latest state, verify the signature with it, and remember the result as
"this signature over these canonical bytes verifies under this public key".

At decide time the committer still asks the current state which key the
member may use *now* (a revoked or expired key is refused from that instant,
exactly as before) and compares that key's public bytes with the remembered
ones: equal, the signature is known good and is not verified again; anything
else (nothing remembered, another key, a key rotated meanwhile) and the
committer verifies it itself. A verification is a pure function of
(public key, signature, message), so a remembered success stays true; the
only thing that can change between the two moments is which key is valid, and
that is checked at decide time.

Nothing here refuses a command: a signature that does not verify, an unknown
member or track, or any other doubt simply leaves nothing remembered, and the
committer reaches and reports the same verdict it always did.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from backchannel.clock import Clock
from backchannel.domain import TrackState
from backchannel.errors import BackchannelError
from backchannel.log.signing import VerifyingKey
from backchannel.protocol.wire import SignedCommand

__all__ = ["DEFAULT_REMEMBERED", "AheadOfCommit"]

DEFAULT_REMEMBERED = 65_536
"""At most this many verified signatures are remembered (the oldest are dropped first)."""

_Key = tuple[bytes, bytes]  # (the command's digest, its signature)


class AheadOfCommit:
    """Verifies signatures before the committer, and tells it which ones it need not verify again.

    Args:
        states: The latest state of a track, without waiting on the committer
            (``None``: not loaded, or not open; those commands are left to the committer).
        clock: The clock the key's validity is read at (the committer checks it again).
        limit: The most verified signatures remembered.
    """

    def __init__(
        self, states: Callable[[str], TrackState | None], clock: Clock, *, limit: int = DEFAULT_REMEMBERED
    ) -> None:
        """Create an empty memory."""
        self._states = states
        self._clock = clock
        self._limit = limit
        self._lock = threading.Lock()
        self._verified: dict[_Key, bytes] = {}
        self.verified = 0
        """Signatures verified here so far (a counter for tests and benchmarks)."""

    def __len__(self) -> int:
        """How many verified signatures are remembered now."""
        with self._lock:
            return len(self._verified)

    def verify(self, commands: Sequence[SignedCommand]) -> None:
        """Verify each command's signature under the key its member may use now; remember the good ones."""
        now = self._clock.now()
        for signed in commands:
            state = self._states(signed.track)
            if state is None:
                continue
            try:
                public = state.signing_key(signed.member, signed.key_id, now).ed25519
                with self._lock:
                    if self._verified.get((signed.digest, signed.signature)) == public:
                        continue  # already verified under this key (a batch, by verify_batch)
                signed.verify(VerifyingKey(public))
            except BackchannelError:
                continue  # the committer reaches the same verdict and reports it
            self.remember([signed], public)

    def remember(self, commands: Sequence[SignedCommand], public: bytes) -> None:
        """Remember ``commands`` as verified under ``public`` (the caller verified them)."""
        with self._lock:
            for signed in commands:
                self._verified[(signed.digest, signed.signature)] = public
                self.verified += 1
            while len(self._verified) > self._limit:
                del self._verified[next(iter(self._verified))]

    def verified_under(self, signed: SignedCommand, public: bytes) -> bool:
        """Whether ``signed``'s signature was verified here under exactly ``public`` (forgotten after)."""
        with self._lock:
            remembered = self._verified.pop((signed.digest, signed.signature), None)
        return remembered == public
