"""One verification job: a transmitted draft on its way through uplink, GPU and downlink."""

from __future__ import annotations

from collections.abc import Callable


def _ignore(job: Job, now: float) -> None:
    """Default ``on_done``: nobody waits for this job (unit tests, open workloads)."""


class Job:
    """Stage timestamps of one transmitted token [s, simulation time].

    ``on_done(job, now)`` is called at the commit time ``now`` (GPU end + downlink), after the
    recorder has booked the token. The server calls it for a whole batch from one event, since
    all of a batch's results return together. ``slm_s`` is the device time the token cost before it
    was sent (τ for a drafted token, 0 when the LLM generates it).
    """

    __slots__ = (
        "accepted",
        "bits",
        "device",
        "k",
        "on_done",
        "prebooked",
        "priority",
        "radiated_s",
        "row",
        "slm_s",
        "t_commit",
        "t_gpu_arrive",
        "t_gpu_end",
        "t_gpu_start",
        "t_start",
        "t_ul_arrive",
        "t_ul_end",
        "t_ul_start",
        "tx_air_s",
    )

    def __init__(self, device: int, row: int, bits: float) -> None:
        self.device = device
        self.row = row
        self.bits = bits
        self.accepted = True
        self.k = 0
        self.priority = 0.0
        self.slm_s = 0.0
        #: True when the device booked the token's payload, truncation and accept decision
        #: with its block; the recorder then books only the token's times.
        self.prebooked = False
        self.on_done: Callable[[Job, float], None] = _ignore
        self.t_start = self.t_ul_arrive = self.t_ul_start = self.t_ul_end = 0.0
        self.t_gpu_arrive = self.t_gpu_start = self.t_gpu_end = self.t_commit = 0.0
        #: Set by the uplink: time the device actually transmitted (slots it was served, or
        #: time on the air with a nonzero rate) and its radiated energy over P_tx,
        #: ∫ P_n(t)/P_tx dt [s]. They can differ from t_ul_end − t_ul_start (the airtime
        #: stage of the latency) and from each other (``uplink.power_model``).
        self.tx_air_s = self.radiated_s = 0.0
