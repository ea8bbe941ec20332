"""One verification job: a transmitted draft on its way through uplink, GPU and downlink."""

from __future__ import annotations

import simpy
from simpy.events import NORMAL


class Job:
    """Stage timestamps of one transmitted token [s, simulation time]."""

    __slots__ = (
        "accepted",
        "bits",
        "device",
        "done",
        "k",
        "priority",
        "row",
        "t_commit",
        "t_gpu_arrive",
        "t_gpu_end",
        "t_gpu_start",
        "t_start",
        "t_ul_arrive",
        "t_ul_end",
        "t_ul_start",
    )

    def __init__(self, env: simpy.Environment, device: int, row: int, bits: float) -> None:
        self.device = device
        self.row = row
        self.bits = bits
        self.accepted = True
        self.k = 0
        self.priority = 0.0
        self.done = env.event()
        self.t_start = self.t_ul_arrive = self.t_ul_start = self.t_ul_end = 0.0
        self.t_gpu_arrive = self.t_gpu_start = self.t_gpu_end = self.t_commit = 0.0


def succeed_after(env: simpy.Environment, event: simpy.Event, delay: float) -> None:
    """Trigger ``event`` ``delay`` seconds from now.

    Like ``Timeout``, but on an event the device already waits on: the GPU knows the commit
    time when a batch starts, so this saves one event per verified token.
    """
    event._ok = True
    event._value = None
    env.schedule(event, NORMAL, delay)
