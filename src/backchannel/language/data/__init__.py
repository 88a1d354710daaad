"""Package data of the language aid: the built-in lexicon and reframing rules (TOML, versioned)."""
