"""Admission: which keys may open tracks on this service (issue #8, ADR-0023).

Opening a track used to be open to any key: a stranger opened 9,000 tracks in
27 s. Now the operator names the keys that may open tracks
(``backchannel serve --admit-key FILE|KEY_ID``, repeatable); an
``open_track`` signed by any other key is refused with
:class:`AdmissionRefusedError` (403 ``not-admitted``, naming the rule), before
anything is appended. The check runs in the track service
(:meth:`~backchannel.service.tracks.TrackService.execute_many`), so every
adapter (HTTP, a future CLI path) gets it; the HTTP status lives in the API's
one error table.

Admission is a policy of the node, not a rule of the log: :func:`replay` of a
track never consults it, and a track opened before a key was dropped from the
list keeps working. :meth:`Admission.unsafe_open_to_all` admits every key; it
is what a service built without a policy uses (embedded use and tests), and
``serve`` never uses it.

This module does not authenticate anyone (the RFC 9421 signature and the
command's own signature are checked before) and does not persist the list:
the operator passes it on each start.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from backchannel.errors import BackchannelError, ConfigurationError, EncodingError
from backchannel.log.canonical import loads_strict
from backchannel.log.signing import VerifyingKey

__all__ = ["Admission", "AdmissionRefusedError", "read_admitted_key"]

_KEY_ID = re.compile(r"ed25519:[0-9a-f]{32}")
_MAX_KEY_FILE = 64 * 1024


class AdmissionRefusedError(BackchannelError):
    """An ``open_track`` signed by a key the operator did not admit.

    Attributes:
        key_id: The refused key.
        rule: The rule that refused it (``"admission"``).
    """

    def __init__(self, key_id: str, track: str) -> None:
        """Create the error naming the key, the track and the rule."""
        super().__init__(
            f"key {key_id} may not open track {track!r}: admission rule: on this service only the keys "
            "the operator admits may open tracks (backchannel serve --admit-key FILE|KEY_ID); ask the "
            "operator to admit this key"
        )
        self.key_id = key_id
        self.rule = "admission"


class Admission:
    """The keys that may open tracks.

    Args:
        key_ids: The admitted Ed25519 key ids (``ed25519:<32 hex>``).

    Raises:
        ConfigurationError: a malformed key id.
    """

    def __init__(self, key_ids: Iterable[str] = ()) -> None:
        """Admit exactly ``key_ids`` (none: nobody may open a track)."""
        ids = frozenset(key_ids)
        for key_id in sorted(ids):
            if not _KEY_ID.fullmatch(key_id):
                raise ConfigurationError(
                    f"admitted key {key_id!r}: expected an Ed25519 key id ed25519:<32 hex>"
                )
        self._key_ids = ids
        self._everyone = False

    @classmethod
    def unsafe_open_to_all(cls) -> Admission:
        """Admit every key (embedded use and tests; never what ``serve`` runs)."""
        admission = cls()
        admission._everyone = True
        return admission

    @classmethod
    def from_specs(cls, specs: Sequence[str]) -> Admission:
        """Admit each ``spec``: a key id, or the path of a key file (public or private).

        Raises:
            ConfigurationError: a spec that is neither a key id nor a readable key file.
        """
        return cls(spec if _KEY_ID.fullmatch(spec) else read_admitted_key(Path(spec)) for spec in specs)

    @property
    def key_ids(self) -> frozenset[str]:
        """The admitted key ids (empty when everyone is admitted)."""
        return self._key_ids

    @property
    def open_to_all(self) -> bool:
        """Whether every key is admitted."""
        return self._everyone

    def admits(self, key_id: str) -> bool:
        """Whether ``key_id`` may open a track."""
        return self._everyone or key_id in self._key_ids

    def verify_may_open(self, key_id: str, track: str) -> None:
        """Raise unless ``key_id`` may open ``track``.

        Raises:
            AdmissionRefusedError: the key is not admitted.
        """
        if not self.admits(key_id):
            raise AdmissionRefusedError(key_id, track)


def read_admitted_key(path: Path) -> str:
    """The Ed25519 key id of a key file: ``keys new``'s file or its public half (``keys show --json``).

    Only the public part is read; a ``public`` key, when present, must match the ``key_id``.

    Raises:
        ConfigurationError: the file is missing, too large, or not a key file.
    """
    try:
        with path.open("rb") as handle:
            data = loads_strict(handle.read(_MAX_KEY_FILE + 1)[: _MAX_KEY_FILE + 1])
    except OSError as e:
        raise ConfigurationError(f"--admit-key {path}: cannot read it ({e.strerror})") from e
    except EncodingError as e:
        raise ConfigurationError(f"--admit-key {path}: not a JSON key file: {e}") from e
    section = data.get("ed25519") if isinstance(data, dict) else None
    key_id = section.get("key_id") if isinstance(section, dict) else None
    if not isinstance(section, dict) or not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise ConfigurationError(f"--admit-key {path}: ed25519.key_id: expected ed25519:<32 hex>")
    public = section.get("public")
    if public is not None:
        try:
            derived = VerifyingKey.from_text(str(public), field="ed25519.public").key_id
        except EncodingError as e:
            raise ConfigurationError(f"--admit-key {path}: {e}") from e
        if derived != key_id:
            raise ConfigurationError(f"--admit-key {path}: ed25519.public is not the key {key_id}")
    return key_id
