"""The coordination log (issue #12, ADR-0027): dependencies, shared resources and deadlocks as track events.

A coordination log is a track the mediator opens like any other (``coord-qatar``);
its commands declare cross-track dependencies, register and book shared
resources, and record that a dependency was met. Its fold keeps the
dependencies, the calendars and the deadlocks found on the wait-for graph
(:class:`~backchannel.domain.coordination.book.CoordinationBook`).

- :mod:`~backchannel.domain.coordination.commands`: the commands (shapes only);
- :mod:`~backchannel.domain.coordination.events`: the events;
- :mod:`~backchannel.domain.coordination.book`: the fold and its queries;
- :mod:`~backchannel.domain.coordination.rules`: the decide functions and the visibility rule.

The feature record is :mod:`backchannel.domain.features.coordination`. This
package does no I/O: the service that watches other tracks for the facts is
:mod:`backchannel.service.coordination`.
"""
