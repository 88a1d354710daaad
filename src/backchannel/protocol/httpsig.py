"""RFC 9421 HTTP Message Signatures (Ed25519) for backchannel's requests.

The transport signature of ADR-0011: every request a member sends is signed by
the HTTP client and checked by the server before any command is looked at.
The profile is fixed:

- one signature (any label; ``sig1`` when we sign), algorithm ``ed25519``;
- covered components: at least ``@method``, ``@target-uri`` and
  ``content-digest`` (RFC 9530, ``sha-256`` only, checked against the body);
- signature parameters: exactly ``created``, ``keyid``, ``alg="ed25519"``,
  ``nonce`` and ``tag`` (``"backchannel"`` unless told otherwise); anything
  else (``expires``, a second signature, component parameters) is refused;
- ``created`` must lie within ``max_skew`` of ``now`` (both ways, inclusive),
  and a ``(keyid, nonce)`` pair is accepted once per :class:`NonceCache`
  window. The nonce is recorded only after the signature verifies, so forged
  requests cannot fill the cache.

Signing and verifying are pure: the caller passes ``created``/``now``, the
nonce, the key (or a key resolver) and the nonce cache. Both sides must give
the **same target URI**: the client passes the URI it sends to
(``str(httpx_request.url)``), the server the URI the client used (its
configured public origin plus the raw path and query), never one rebuilt from
an untrusted ``Host`` header.

The structured fields (RFC 8941) are handled by a small, strict parser and
serialiser for the subset this profile meets: dictionaries, inner lists,
parameters, strings, integers, tokens, booleans and byte sequences (canonical,
padded base64 only). Decimals are refused. The PyPI package
``http-message-signatures`` 3.0.0 was evaluated and interoperates with this
module both ways, but it is not used: its verifier reads the wall clock, and
it folds key-resolver failures into one generic exception. Our policy checks
(nonce and ``alg`` required, the tag) would also mean parsing the fields a
second time.

This module does not read the clock, does not touch sockets or framework
request objects, does not sign or verify responses, does not implement the
rest of RFC 9421 (``@query-param``, ``@status``, ``req``, ``sf``/``key``/``bs``
component parameters, trailers, other algorithms), and does not decide which
key may call which endpoint: ``resolve_key`` and the caller's policy do.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backchannel.errors import (
    BackchannelError,
    ConfigurationError,
    EncodingError,
    VerificationError,
)
from backchannel.log.signing import SigningKey, VerifyingKey, b64encode
from backchannel.protocol.nonces import NonceCache, NonceStore, require_aware
from backchannel.protocol.structured_fields import (
    InnerList,
    Item,
    MalformedError,
    parse_dictionary,
    serialize_inner_list,
    serialize_string,
)

__all__ = [
    "ALGORITHM",
    "DEFAULT_MAX_SKEW",
    "DEFAULT_TAG",
    "LABEL",
    "REQUIRED_COMPONENTS",
    "NonceCache",
    "NonceStore",
    "VerifiedRequest",
    "content_digest",
    "sign_request",
    "signature_base",
    "verify_request",
]

LABEL = "sig1"
"""The signature label :func:`sign_request` writes (labels are not signed)."""
ALGORITHM = "ed25519"
"""The only ``alg`` accepted."""
DEFAULT_TAG = "backchannel"
"""The application tag both sides expect unless told otherwise."""
REQUIRED_COMPONENTS = ("@method", "@target-uri", "content-digest")
"""What every signature must cover, and what :func:`sign_request` covers."""
DEFAULT_MAX_SKEW = timedelta(seconds=300)
"""How far ``created`` may be from the verifier's ``now``, either way."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_CREATED = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a datetime can hold
_MAX_FIELD_LENGTH = 8192
_SIGNATURE_LENGTH = 64
_DIGEST_LENGTH = 32
_PARAMETERS = frozenset({"created", "keyid", "alg", "nonce", "tag"})
_TEXT_PARAMETERS = ("keyid", "alg", "nonce", "tag")
_SIGNATURE_FIELDS = frozenset({"signature-input", "signature", "content-digest"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}

# RFC 9110 token (methods, field names); nonce and tag: a conservative, unescaped sf-string subset.
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FIELD_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")
_NONCE = re.compile(r"[A-Za-z0-9._~+/=:-]{1,128}")
_TAG = re.compile(r"[A-Za-z0-9._~+/=:-]{1,64}")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")

# An absolute http(s) URI in visible ASCII: no userinfo, no fragment.
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")
_TARGET_URI = re.compile(
    r"(?P<scheme>[Hh][Tt][Tt][Pp][Ss]?)://"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]+)"
    r"(?::(?P<port>[0-9]{0,5}))?"
    r"(?P<path>/[^?#]*)?"
    r"(?:\?(?P<query>[^#]*))?"
)

# --------------------------------------------------------------------------------------------------
# The signature base (RFC 9421 §2.5)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _TargetURI:
    text: str
    scheme: str
    authority: str
    path: str
    query: str


def _parse_target_uri(text: str) -> _TargetURI:
    match = _TARGET_URI.fullmatch(text) if _VISIBLE_ASCII.fullmatch(text) else None
    if match is None:
        raise MalformedError(
            f"target URI {text[:200]!r} is not an absolute http(s) URI in visible ASCII "
            "without userinfo or fragment"
        )
    scheme = match["scheme"].lower()
    authority = match["host"].lower()
    port = match["port"]
    if port and port != _DEFAULT_PORTS[scheme]:
        authority += f":{port}"
    return _TargetURI(
        text=text,
        scheme=scheme,
        authority=authority,
        path=match["path"] or "/",
        query="?" + (match["query"] or ""),
    )


_DERIVED: dict[str, Callable[[str, _TargetURI], str]] = {
    "@method": lambda method, _uri: method,
    "@target-uri": lambda _method, uri: uri.text,
    "@authority": lambda _method, uri: uri.authority,
    "@scheme": lambda _method, uri: uri.scheme,
    "@path": lambda _method, uri: uri.path,
    "@query": lambda _method, uri: uri.query,
}


def _group_fields(headers: Mapping[str, str]) -> dict[str, str]:
    """Lowercase the names; trim each value and join repeated fields with ``", "`` (RFC 9421 §2.1)."""
    grouped: dict[str, list[str]] = {}
    for name, value in headers.items():
        grouped.setdefault(name.lower(), []).append(value.strip(" \t"))
    return {name: ", ".join(values) for name, values in grouped.items()}


def _component_value(name: str, method: str, uri: _TargetURI, fields: Mapping[str, str]) -> str:
    derived = _DERIVED.get(name)
    if derived is not None:
        return derived(method, uri)
    if name.startswith("@"):
        raise MalformedError(f"unsupported derived component {name!r}")
    if not _FIELD_NAME.fullmatch(name):
        raise MalformedError(f"component {name[:80]!r} is not a lowercase field name")
    value = fields.get(name)
    if value is None:
        raise MalformedError(f"covered field {name!r} is absent from the request")
    if not _FIELD_VALUE.fullmatch(value):
        raise MalformedError(f"field {name!r} holds control or non-ASCII characters")
    return value


def _build_base(
    method: str,
    target_uri: str,
    fields: Mapping[str, str],
    components: Sequence[str],
    params: Mapping[str, int | str],
) -> tuple[bytes, str]:
    """Return the signature base and the serialised ``@signature-params`` value."""
    if not _METHOD.fullmatch(method):
        raise MalformedError(f"method {method[:80]!r} is not an HTTP token")
    uri = _parse_target_uri(target_uri)
    lines = [
        f"{serialize_string(name)}: {_component_value(name, method, uri, fields)}" for name in components
    ]
    signature_params = serialize_inner_list(components, params)
    lines.append(f'"@signature-params": {signature_params}')
    return "\n".join(lines).encode("ascii"), signature_params


def signature_base(
    method: str,
    target_uri: str,
    headers: Mapping[str, str],
    *,
    components: Sequence[str],
    params: Mapping[str, int | str],
) -> bytes:
    """Build the RFC 9421 §2.5 signature base of a request (any covered components).

    Supported components: ``@method``, ``@target-uri``, ``@authority``,
    ``@scheme``, ``@path``, ``@query`` and header fields without parameters.
    Parameters are serialised in the order given.

    Args:
        method: The request method, e.g. ``"POST"``.
        target_uri: The absolute target URI.
        headers: The request's header fields; names are case-insensitive, and a
            name that occurs more than once is combined as RFC 9421 §2.1 says.
        components: The covered component names, in order.
        params: The signature parameters (``int`` or ``str`` values).

    Returns:
        The signature base, ASCII bytes without a trailing newline.

    Raises:
        EncodingError: a bad method, URI, component or value, or a covered field absent.
    """
    try:
        return _build_base(method, target_uri, _group_fields(headers), components, params)[0]
    except MalformedError as e:
        raise EncodingError(str(e)) from e


def content_digest(body: bytes) -> str:
    """Return the RFC 9530 ``Content-Digest`` value of ``body`` (``sha-256`` only)."""
    return f"sha-256=:{b64encode(hashlib.sha256(body).digest())}:"


# --------------------------------------------------------------------------------------------------
# Signing
# --------------------------------------------------------------------------------------------------


def _unix_seconds(moment: datetime) -> int:
    seconds = (require_aware(moment, "created") - _EPOCH) // timedelta(seconds=1)
    if seconds < 0:
        raise EncodingError(f"created: {moment.isoformat()} is before 1970")
    return seconds


def sign_request(  # noqa: PLR0913 - the request's four parts plus the signing inputs, all keyword-only
    method: str,
    target_uri: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    key: SigningKey,
    created: datetime,
    nonce: str,
    tag: str = DEFAULT_TAG,
) -> dict[str, str]:
    """Sign a request; return the header fields to add to it.

    The signature (label ``sig1``) covers ``@method``, ``@target-uri`` and
    ``content-digest`` with the parameters ``created`` (whole seconds, rounded
    down), ``keyid`` (``key.key_id``), ``alg="ed25519"``, ``nonce`` and ``tag``.

    Args:
        method: The request method, exactly as sent.
        target_uri: The absolute URI the request is sent to, exactly as sent.
        headers: The request's other header fields. They must not already hold
            ``Content-Digest``, ``Signature-Input`` or ``Signature``.
        body: The request content, as sent.
        key: The member's Ed25519 key.
        created: The signing time (timezone-aware); the caller's clock.
        nonce: A fresh random nonce, 1-128 characters of ``A-Za-z0-9._~+/=:-``.
        tag: The application tag.

    Returns:
        ``{"Content-Digest": ..., "Signature-Input": ..., "Signature": ...}``.

    Raises:
        EncodingError: a bad method, URI, time, nonce or tag, or headers that
            already carry signature fields.
    """
    fields = _group_fields(headers)
    if present := sorted(_SIGNATURE_FIELDS & fields.keys()):
        raise EncodingError(f"headers already carry {present}; sign_request adds these itself")
    if not _NONCE.fullmatch(nonce):
        raise EncodingError(f"nonce {nonce[:200]!r} must be 1-128 characters of A-Za-z0-9._~+/=:-")
    if not _TAG.fullmatch(tag):
        raise EncodingError(f"tag {tag[:200]!r} must be 1-64 characters of A-Za-z0-9._~+/=:-")
    params: dict[str, int | str] = {
        "created": _unix_seconds(created),
        "keyid": key.key_id,
        "alg": ALGORITHM,
        "nonce": nonce,
        "tag": tag,
    }
    fields["content-digest"] = digest = content_digest(body)
    try:
        base, signature_params = _build_base(method, target_uri, fields, REQUIRED_COMPONENTS, params)
    except MalformedError as e:
        raise EncodingError(str(e)) from e
    return {
        "Content-Digest": digest,
        "Signature-Input": f"{LABEL}={signature_params}",
        "Signature": f"{LABEL}=:{b64encode(key.sign(base))}:",
    }


# --------------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """What a verified transport signature establishes."""

    key_id: str
    """The key that signed the request (as resolved and checked)."""
    created: datetime
    """The signature's ``created`` time (UTC, whole seconds)."""
    nonce: str
    """The request's nonce, now recorded in the cache."""


@dataclass(frozen=True, slots=True)
class _Signature:
    components: tuple[str, ...]
    params: dict[str, int | str]
    key_id: str
    nonce: str
    created: int
    signature: bytes


def _field(fields: Mapping[str, str], name: str, display: str) -> str:
    value = fields.get(name)
    if value is None:
        raise VerificationError(f"missing {display} header")
    if len(value) > _MAX_FIELD_LENGTH:
        raise VerificationError(f"{display} header longer than {_MAX_FIELD_LENGTH} characters")
    return value


def _read_signature(fields: Mapping[str, str]) -> tuple[str, InnerList, bytes]:
    inputs = parse_dictionary(_field(fields, "signature-input", "Signature-Input"), "Signature-Input")
    signatures = parse_dictionary(_field(fields, "signature", "Signature"), "Signature")
    if len(inputs) != 1:
        raise VerificationError(f"Signature-Input: expected exactly one signature, found {sorted(inputs)}")
    ((label, signature_input),) = inputs.items()
    if list(signatures) != [label]:
        raise VerificationError(
            f"Signature: expected exactly the label {label!r}, found {sorted(signatures)}"
        )
    if not isinstance(signature_input, InnerList):
        raise VerificationError(f"Signature-Input: {label!r} must be an inner list of components")
    signature = signatures[label]
    if not isinstance(signature, Item) or not isinstance(signature.value, bytes) or signature.params:
        raise VerificationError(f"Signature: {label!r} must be a byte sequence without parameters")
    if len(signature.value) != _SIGNATURE_LENGTH:
        raise VerificationError(f"Signature: {label!r} must be 64 bytes, got {len(signature.value)}")
    return label, signature_input, signature.value


def _covered_components(label: str, signature_input: InnerList) -> tuple[str, ...]:
    components: list[str] = []
    for item in signature_input.items:
        if not isinstance(item.value, str):
            raise VerificationError(f"Signature-Input: {label!r} covers a component that is not a string")
        if item.params:
            raise VerificationError(
                f"Signature-Input: component {item.value!r} has parameters, which are not supported"
            )
        if item.value in components:
            raise VerificationError(f"Signature-Input: component {item.value!r} is covered twice")
        components.append(item.value)
    if missing := [c for c in REQUIRED_COMPONENTS if c not in components]:
        raise VerificationError(f"Signature-Input: {label!r} does not cover {missing}")
    return tuple(components)


def _profile(label: str, signature_input: InnerList, signature: bytes, tag: str) -> _Signature:
    components = _covered_components(label, signature_input)
    raw = signature_input.params
    if unknown := sorted(raw.keys() - _PARAMETERS):
        raise VerificationError(f"Signature-Input: unsupported signature parameter(s) {unknown}")
    if missing := sorted(_PARAMETERS - raw.keys()):
        raise VerificationError(f"Signature-Input: missing signature parameter(s) {missing}")
    created = raw["created"]
    if isinstance(created, bool) or not isinstance(created, int) or not 0 <= created <= _MAX_CREATED:
        raise VerificationError(f"Signature-Input: created must be a Unix time in seconds, got {created!r}")
    texts: dict[str, str] = {}
    for name in _TEXT_PARAMETERS:
        value = raw[name]
        if not isinstance(value, str):
            raise VerificationError(f"Signature-Input: {name} must be an sf-string")
        texts[name] = value
    if texts["alg"] != ALGORITHM:
        raise VerificationError(f"Signature-Input: alg must be {ALGORITHM!r}, got {texts['alg']!r}")
    if texts["tag"] != tag:
        raise VerificationError(f"Signature-Input: tag must be {tag!r}, got {texts['tag']!r}")
    if not _NONCE.fullmatch(texts["nonce"]):
        raise VerificationError("Signature-Input: nonce must be 1-128 characters of A-Za-z0-9._~+/=:-")
    return _Signature(
        components=components,
        params={name: created if name == "created" else texts[name] for name in raw},
        key_id=texts["keyid"],
        nonce=texts["nonce"],
        created=created,
        signature=signature,
    )


def _check_content_digest(fields: Mapping[str, str], body: bytes) -> None:
    members = parse_dictionary(_field(fields, "content-digest", "Content-Digest"), "Content-Digest")
    if list(members) != ["sha-256"]:
        raise VerificationError(
            f"Content-Digest: expected exactly one sha-256 digest, found {sorted(members)}"
        )
    digest = members["sha-256"]
    if (
        not isinstance(digest, Item)
        or not isinstance(digest.value, bytes)
        or len(digest.value) != _DIGEST_LENGTH
        or digest.params
    ):
        raise VerificationError("Content-Digest: sha-256 must be a 32-byte byte sequence")
    if not hmac.compare_digest(digest.value, hashlib.sha256(body).digest()):
        raise VerificationError("Content-Digest does not match the request body")


def _skew_message(created: datetime, now: datetime, max_skew: timedelta) -> str:
    """``created 3600 s in the past; the window is ±300 s (...)``: whole seconds, never a timedelta repr."""
    offset = (created - now).total_seconds()
    when = "in the past" if offset < 0 else "in the future"
    return (
        f"created {round(abs(offset))} s {when}; the window is ±{round(max_skew.total_seconds())} s "
        f"(the allowed skew between created {created.isoformat()} and the server's clock "
        f"{now.isoformat()}); check the client's clock"
    )


def _resolve(resolve_key: Callable[[str], VerifyingKey], key_id: str) -> VerifyingKey:
    try:
        key = resolve_key(key_id)
    except (BackchannelError, LookupError) as e:
        raise VerificationError(f"unknown or unusable key id {key_id!r}: {e}") from e
    if key.key_id != key_id:
        raise VerificationError(f"key resolver returned key {key.key_id} for key id {key_id!r}")
    return key


def verify_request(  # noqa: PLR0913 - the request's four parts plus the verification policy, all keyword-only
    method: str,
    target_uri: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    resolve_key: Callable[[str], VerifyingKey],
    now: datetime,
    nonces: NonceStore,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
    tag: str = DEFAULT_TAG,
) -> VerifiedRequest:
    """Verify a request's transport signature and record its nonce.

    Checks, in order: the signature fields parse and hold exactly one
    signature; it covers ``@method``, ``@target-uri`` and ``content-digest``
    and carries exactly ``created``, ``keyid``, ``alg="ed25519"``, ``nonce``
    and the expected ``tag``; ``created`` is within ``max_skew`` of ``now``;
    ``Content-Digest`` matches ``body``; the key id resolves to the key of
    that id; the signature verifies; the nonce is new.

    Args:
        method: The request method as received.
        target_uri: The absolute URI the client sent the request to.
        headers: The received header fields (names case-insensitive; repeated
            fields are combined, as Starlette's and httpx's ``items()`` give them).
        body: The received content.
        resolve_key: Returns the enrolled, usable key of a key id; raises a
            :class:`~backchannel.errors.BackchannelError` or ``LookupError``
            when there is none.
        now: The verifier's current time (timezone-aware).
        nonces: The replay cache; its window must be at least ``max_skew``.
        max_skew: How far ``created`` may be from ``now``, either way.
        tag: The application tag the signature must carry.

    Returns:
        The key id, ``created`` time and nonce of the verified signature.

    Raises:
        VerificationError: any refusal; the message says which check failed.
        OperationalError: the nonce cache is full (retry later).
        ConfigurationError: a nonce window shorter than ``max_skew``.
        EncodingError: a naive ``now``.
    """
    require_aware(now, "now")
    if nonces.window < max_skew:
        raise ConfigurationError(f"nonce window {nonces.window} is shorter than the allowed skew {max_skew}")
    fields = _group_fields(headers)
    signed = _profile(*_read_signature(fields), tag)
    created = _EPOCH + timedelta(seconds=signed.created)
    if abs(created - now) > max_skew:
        raise VerificationError(_skew_message(created, now, max_skew))
    _check_content_digest(fields, body)
    key = _resolve(resolve_key, signed.key_id)
    try:
        base, _ = _build_base(method, target_uri, fields, signed.components, signed.params)
    except MalformedError as e:
        raise VerificationError(str(e)) from e
    if not key.is_valid(signed.signature, base):
        raise VerificationError(
            f"signature does not verify for key {signed.key_id} (request altered in transit, or signed "
            "with another key)"
        )
    nonces.check_and_add(signed.key_id, signed.nonce, created, now)
    return VerifiedRequest(key_id=signed.key_id, created=created, nonce=signed.nonce)
