"""The mediator's language aid (issue #15): escalation coding, reframings, meaning drift, rejection risk."""
