"""Tamper-evident log primitives: canonical encoding, signatures, Merkle trees, checkpoints."""
