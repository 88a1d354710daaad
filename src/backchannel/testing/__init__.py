"""Public test helpers: fake clocks, contract suites and strategies for backchannel and its adapters."""
