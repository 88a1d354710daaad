"""The application layer: orchestration of stores, logs and (later) the domain."""
