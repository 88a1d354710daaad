"""What goes over the wire between a member and the service, and how it is protected.

- :mod:`backchannel.protocol.httpsig`: RFC 9421 HTTP message signatures (Ed25519),
  on top of :mod:`~backchannel.protocol.structured_fields` (RFC 8941) and the
  replay store :mod:`~backchannel.protocol.nonces`;
- :mod:`backchannel.protocol.annexes`: the sealing format of annexes (per-recipient
  X25519 boxes bound to a track and member);
- :mod:`backchannel.protocol.keyfile`: the key file format (``backchannel-key/1``).

This package does no I/O beyond reading and writing key files, reads no clock,
and knows no HTTP framework: the SDK (:mod:`backchannel.sdk`) and the API
(:mod:`backchannel.api`) use it from either side.
"""
