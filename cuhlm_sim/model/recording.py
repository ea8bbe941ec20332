"""The model's side of measurement: the recorder it reports to, and what a finished run returns.

The model calls a :class:`Recorder` as things happen (a block drafted, a batch verified, a slot
sent) and never reads a result back from it, so it needs only this interface. The recorder
itself lives in :mod:`cuhlm_sim.metrics.recorder` and implements it (a test checks that), so the
model imports nothing from :mod:`cuhlm_sim.metrics`: imports run one way, from metrics to model.
:class:`RunResult` is what :func:`cuhlm_sim.model.engine.simulate` hands back, with the recorder
it was given; the metrics layer computes the summary from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, runtime_checkable

import numpy as np

from cuhlm_sim.model.job import Job
from cuhlm_sim.model.params import SimParams
from cuhlm_sim.model.payload import PayloadModel
from cuhlm_sim.model.policies.base import Policy
from cuhlm_sim.traces.arrays import TraceArrays


class WindowRule(Protocol):
    """Which commit times count: the devices ask it before taking a block booking back."""

    def contains(self, t: float) -> bool: ...

    def holds(self, first: float, last: float) -> bool: ...


class Ledger(Protocol):
    """What each token adds to the counters, booked by trace row (sign −1 takes it back)."""

    def book_sent(self, device: int, rows: np.ndarray, sign: int = 1) -> None: ...

    def block_skip_sums(self, start: int, size: int, sent_rows: np.ndarray) -> np.ndarray: ...

    def block_skip_prefix(self, rows: np.ndarray, transmitted: np.ndarray) -> np.ndarray: ...


class Level(Protocol):
    """The number of jobs in a queue, integrated over the window."""

    def arrive(self, now: float, n: int = 1) -> None: ...

    def depart(self, now: float, n: int = 1) -> None: ...


@runtime_checkable
class Recorder(Protocol):
    """Everything the model reports during a run; see :mod:`cuhlm_sim.metrics.recorder`."""

    @property
    def log_tokens(self) -> bool:
        """Whether every token is logged (the devices then book each token exactly)."""

    @property
    def window(self) -> WindowRule: ...

    @property
    def ledger(self) -> Ledger | None: ...

    @property
    def gpu_queue(self) -> Level: ...

    @property
    def uplink_active(self) -> Level: ...

    def attach(self, policy: Policy, trace: TraceArrays) -> Ledger:
        """Build the run's ledger from the policy's per-row decisions (before the run)."""

    def open_window(self, now: float) -> None: ...

    def close_window(self, now: float) -> None: ...

    def request_done(self, start: float, first: float, end: float, tokens: int) -> None:
        """A request of ``tokens`` tokens started at ``start`` (closed loop: its first draft),
        its first token committed at ``first`` and its last at ``end``."""

    def skipped_block(self, device: int, sums: np.ndarray, latency: float | np.ndarray) -> None: ...

    def skipped_run(
        self,
        device: int,
        commits: np.ndarray,
        latency: float | np.ndarray,
        cums: np.ndarray,
        pos: int,
        rows: np.ndarray | None = None,
    ) -> None: ...

    def sent(self, batch: list[Job]) -> None: ...

    def gpu_batch(self, start: float, end: float, size: int) -> None: ...

    def uplink_slot(
        self, start: float, devs: np.ndarray, rbs: np.ndarray, bits: np.ndarray, slot_s: float
    ) -> None: ...

    def uplink_finished(self, jobs: list[Job], end: float, idle_from: float | None) -> None: ...

    def uplink_busy(self, start: float, end: float) -> None: ...


R = TypeVar("R", bound=Recorder)


@dataclass
class RunResult(Generic[R]):
    """What a finished run hands to the metrics layer: the recorder it was given, and what the
    model knows at the end."""

    params: SimParams
    recorder: R
    policy: Policy
    payload: PayloadModel
    spectral_efficiency: np.ndarray  # [num_devices] bit/s/Hz
    snr_db: np.ndarray  # [num_devices] dB
    events: int  # queued calls and SimPy events processed (a speed-regression handle)
    requests_done: int
