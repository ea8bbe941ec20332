"""The simulation clock: SimPy's environment with a cheap scheduled call for the hot path.

Most of the model's events are "at time t, call this method": a draft finishes, a payload
leaves the uplink, a GPU batch ends. As SimPy ``Timeout`` events each would cost an Event
object, a callback list and a trip through :meth:`simpy.Environment.step`.
:meth:`Environment.call_later` queues the call itself, with the key a ``Timeout`` of that delay
would get (time, ``NORMAL`` priority, the next event id), and SimPy's own events (the channel
process, the slotted uplink's processes) are queued as calls of their callbacks under SimPy's
key; so calls and events keep exactly the order SimPy gives them, and :meth:`Environment.run`
pops both in one loop.

The queue is SimPy's heap plus a one-entry fast lane: an entry that is earlier than everything
queued when it is scheduled (a payload that leaves the uplink microseconds later, say) waits
there instead of going through the heap, which saves a push and a pop. Entries are
``(time, priority, id, fn, arg)``; the lane's entry is always earlier than every heap entry.

Pure Python, no compiler needed: this is the reference the naive model
(:mod:`cuhlm_sim.experiments.naive`, plain SimPy) is compared with.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import simpy
from simpy.core import EmptySchedule, Infinity, StopSimulation
from simpy.events import NORMAL, URGENT, Event


def _fire(event: Event) -> None:
    """Process a SimPy event: call its callbacks; a failed event nobody handled raises, as in
    :meth:`simpy.Environment.step`."""
    callbacks, event.callbacks = event.callbacks, None
    try:
        for callback in callbacks:
            callback(event)
    except StopSimulation:  # SimPy's run(until=event) stops here: keep the rest for later
        event.callbacks = callbacks[callbacks.index(callback) + 1 :]
        event.env.schedule(event, -1)
        raise
    if not event._ok and not hasattr(event, "_defused"):
        exc = type(event._value)(*event._value.args)
        exc.__cause__ = event._value
        raise exc


class Environment(simpy.Environment):
    """A :class:`simpy.Environment` whose queue holds plain calls, SimPy's events among them.

    ``events_processed`` counts the events and calls the run loop has handled (the speed
    guards compare it with the tokens simulated).
    """

    def __init__(self, initial_time: float = 0) -> None:
        super().__init__(initial_time)
        self.events_processed = 0
        self._lane: tuple | None = None  # earlier than every heap entry, or None

    def _put(self, entry: tuple) -> None:
        """Queue an entry: into the lane if it is earlier than everything queued (the lane's
        old entry, if any, goes to the heap), else onto the heap."""
        lane = self._lane
        if lane is None:
            queue = self._queue
            if not queue or entry < queue[0]:
                self._lane = entry
            else:
                heappush(queue, entry)
        elif entry < lane:
            heappush(self._queue, lane)
            self._lane = entry
        else:
            heappush(self._queue, entry)

    def call_later(self, delay: float, fn: Callable[[Any], None], arg: Any = None) -> None:
        """Call ``fn(arg)`` ``delay`` seconds from now, in the order a ``Timeout(delay)``
        created now would fire (its time is the same float ``now + delay``)."""
        if delay < 0:
            raise ValueError(f"negative delay {delay}")
        self._put((self._now + delay, NORMAL, next(self._eid), fn, arg))

    def schedule(self, event: Event, priority: int = NORMAL, delay: float = 0) -> None:
        """SimPy's schedule: the event's callbacks become one queued call."""
        self._put((self._now + delay, priority, next(self._eid), _fire, event))

    def _pop(self) -> tuple:
        lane = self._lane
        if lane is not None:
            self._lane = None
            return lane
        return heappop(self._queue)

    def peek(self) -> float:
        if self._lane is not None:
            return self._lane[0]
        return self._queue[0][0] if self._queue else Infinity

    def step(self) -> None:
        """Process the next event or call (SimPy's step, for callers that step by hand).

        Unlike SimPy, a numeric ``run(until)`` leaves no stop event behind, so ``step`` and
        ``peek`` after it see the next real entry."""
        if self._lane is None and not self._queue:
            raise EmptySchedule
        self._now, _, _, fn, arg = self._pop()
        self.events_processed += 1
        fn(arg)

    def run(self, until: float | Event | None = None) -> Any:
        """Run up to the time ``until``: everything SimPy's ``run(until)`` would process (the
        instant ``until`` itself only for URGENT events scheduled before the call), then the
        clock stands at ``until``. An Event or None as ``until`` goes to SimPy's own loop.

        The stop is a key, not a queued event: if an exception escapes the run, nothing of
        this run is left in the queue (SimPy's would stop the next run at this ``until``)."""
        if until is None or isinstance(until, Event):
            return super().run(until)
        at = float(until)
        if at <= self._now:
            raise ValueError(f"until ({at}) must be greater than the current simulation time")
        # SimPy's stop event would sit at (at, URGENT, next id): stop at its key. The loop
        # compares times only; an entry at ``at`` itself compares its (priority, id).
        stop = (URGENT, next(self._eid))
        queue = self._queue
        n = 0
        try:
            while True:
                # _pop, written out: this loop runs once per event of the model
                entry = self._lane
                if entry is not None:
                    self._lane = None
                elif queue:
                    entry = heappop(queue)
                else:
                    break
                t = entry[0]
                if t >= at and (t > at or entry[1:3] >= stop):
                    self._lane = entry  # the earliest entry: back, into the lane
                    break
                self._now = t
                n += 1
                entry[3](entry[4])
        except StopSimulation as exc:  # a stop callback left by an earlier run(until=event)
            return exc.args[0]
        finally:
            self.events_processed += n
        self._now = at
        return None
