"""The pure negotiation domain. Filled in by later issues; imports nothing of ours but errors."""
