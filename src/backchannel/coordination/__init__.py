"""Multi-track coordination: the wait-for graph across tracks, shared resources and their calendars.

Pure code (no I/O, no clock reads): time comes in as arguments. The events that
feed it and the coordination log live in the service; this package decides
nothing about who may do what.
"""

from backchannel.coordination.waitfor import Cycle, Wait, WaitForGraph, WaitForStatistics, WaitKind

__all__ = ["Cycle", "Wait", "WaitForGraph", "WaitForStatistics", "WaitKind"]
