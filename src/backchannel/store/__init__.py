"""Persistence: the EventStore contract and its memory and SQLite adapters."""
