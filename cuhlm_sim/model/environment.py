"""The simulation clock: SimPy's environment with a cheap scheduled call for the hot path.

Most of the model's events are "at time t, call this method": a draft finishes, a payload
leaves the uplink, a GPU batch ends. As SimPy ``Timeout`` events each costs an Event object, a
callback list and a trip through :meth:`simpy.Environment.step` (about 2 µs, a fifth of a
token's work). :meth:`Environment.call_later` puts the call itself on SimPy's event heap, with
the same key a ``Timeout`` of that delay would get (time, ``NORMAL`` priority, the next event
id), so calls and SimPy events (the channel process, the slotted uplink's processes) keep
exactly the order SimPy gives them; :meth:`Environment.run` pops both in one loop.

Pure Python, no compiler needed: this is the reference the naive model
(:mod:`cuhlm_sim.experiments.naive`, plain SimPy) is compared with.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import simpy
from simpy.core import EmptySchedule
from simpy.events import NORMAL, URGENT, Event


class Environment(simpy.Environment):
    """A :class:`simpy.Environment` whose queue also holds plain calls.

    ``events_processed`` counts the events and calls the run loop has handled (the speed
    guards compare it with the tokens simulated).
    """

    def __init__(self) -> None:
        super().__init__()
        self.events_processed = 0

    def call_later(self, delay: float, fn: Callable[[Any], None], arg: Any = None) -> None:
        """Call ``fn(arg)`` ``delay`` seconds from now, in the order a ``Timeout(delay)``
        created now would fire (its time is the same float ``now + delay``)."""
        if delay < 0:
            raise ValueError(f"negative delay {delay}")
        heappush(self._queue, (self._now + delay, NORMAL, next(self._eid), (fn, arg)))

    def step(self) -> None:
        """Process the next event or call (SimPy's step, for callers that step by hand)."""
        try:
            self._now, _, _, event = heappop(self._queue)
        except IndexError:
            raise EmptySchedule from None
        self.events_processed += 1
        if event.__class__ is tuple:
            event[0](event[1])
            return
        self._fire(event)

    @staticmethod
    def _fire(event: Event) -> None:
        callbacks, event.callbacks = event.callbacks, None
        for callback in callbacks:
            callback(event)
        if not event._ok and not hasattr(event, "_defused"):
            # A failed event nobody handled: raise it, as SimPy does.
            exc = type(event._value)(*event._value.args)
            exc.__cause__ = event._value
            raise exc

    def run(self, until: float | Event | None = None) -> Any:
        """Run up to the time ``until``: everything SimPy's ``run(until)`` would process (the
        instant ``until`` itself only for URGENT events scheduled before the call), then the
        clock stands at ``until``. An Event or None as ``until`` goes to SimPy's own loop."""
        if until is None or isinstance(until, Event):
            return super().run(until)
        at = float(until)
        if at <= self._now:
            raise ValueError(f"until ({at}) must be greater than the current simulation time")
        # SimPy's stop event would sit at (at, URGENT, next id): stop at its key.
        stop = (at, URGENT, next(self._eid))
        queue = self._queue
        fire = self._fire
        n = 0
        try:
            while queue and queue[0] < stop:
                self._now, _, _, event = heappop(queue)
                n += 1
                if event.__class__ is tuple:
                    event[0](event[1])
                else:
                    fire(event)
        finally:
            self.events_processed += n
        self._now = at
        return None
