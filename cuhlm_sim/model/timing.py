"""Per-token and per-batch times drawn around their configured means (``*_latency_dist``).

A distribution gives factors with mean 1 that multiply the configured mean: per token for the
SLM (``devices.slm_latency_dist``), one per batch for the GPU (``server.llm_latency_dist``,
multiplying t(b) so the batch-size shape is kept). Why not constant times: with every device
drafting in exactly 82 ms and every batch taking exactly t(b), the devices of one GPU batch
resume together and stay in lock-step for the whole run, so the GPU always sees full batches
and HLM's latency has no spread (the artefact issue 12 describes).

- ``fixed``: no factors (None); callers keep their constant-time arithmetic.
- ``lognormal``: :math:`\\sigma^2 = \\ln(1 + cv^2)`, :math:`\\mu = -\\sigma^2/2`, so the mean is
  exactly 1 and the coefficient of variation ``cv``; drawn from the owner's own stream.
- ``trace``: the replayed rows' recorded times (``t_draft_ms`` / ``t_target_ms``) over the
  trace-wide mean of that column: the recorded shape (CPU outliers included), rescaled.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from cuhlm_sim.errors import ScenarioError
from cuhlm_sim.model.job import Job
from cuhlm_sim.model.registry import Registry

#: ``devices.slm_latency_dist`` / ``server.llm_latency_dist`` -> the builder of its
#: :data:`FactorSource` (given cv, the trace's recorded column and the key's name for errors).
LATENCY_DISTS: Registry[FactorSource] = Registry("latency distribution")

#: What a run builds once per distribution: ``owner's rng factory -> that owner's factors``
#: (None: constant times). ``rng_factory()`` is called only by a distribution that draws.
FactorSource = Callable[[Callable[[], np.random.Generator]], "TimeFactors | None"]

#: Lognormal factors drawn at once per refill of a batch-factor buffer (the batch path asks
#: one at a time; a numpy call per batch would cost more than the rest of the batch).
_CHUNK = 1024


class TimeFactors(ABC):
    """Factors with mean 1: per token (``per_row``) or one per batch (``per_batch``)."""

    @abstractmethod
    def per_row(self, rows: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def per_batch(self, jobs: list[Job]) -> float: ...


class LognormalFactors(TimeFactors):
    """i.i.d. lognormal factors with mean 1 and coefficient of variation ``cv``."""

    def __init__(self, cv: float, rng_factory: Callable[[], np.random.Generator]) -> None:
        self.sigma = math.sqrt(math.log1p(cv * cv))
        self.mu = -0.5 * self.sigma * self.sigma
        self._rng_factory = rng_factory
        self._rng: np.random.Generator | None = None  # made on first use (~10 µs each)
        self._buf: list[float] = []

    @property
    def rng(self) -> np.random.Generator:
        if self._rng is None:
            self._rng = self._rng_factory()
        return self._rng

    def per_row(self, rows: np.ndarray) -> np.ndarray:
        return self.rng.lognormal(self.mu, self.sigma, rows.shape[0])

    def per_batch(self, jobs: list[Job]) -> float:
        buf = self._buf
        if not buf:
            # Reversed, so pop() hands them out in the order drawn.
            buf.extend(self.rng.lognormal(self.mu, self.sigma, _CHUNK)[::-1].tolist())
        return buf.pop()


class TraceFactors(TimeFactors):
    """The replayed rows' recorded times over the column's trace-wide mean."""

    def __init__(self, column: np.ndarray) -> None:
        self._scaled = column / float(np.mean(column))
        self._list = self._scaled.tolist()

    def per_row(self, rows: np.ndarray) -> np.ndarray:
        return self._scaled[rows]

    def per_batch(self, jobs: list[Job]) -> float:
        s = self._list
        return sum(s[job.row] for job in jobs) / len(jobs)


@LATENCY_DISTS.register("fixed")
def _fixed(cv: float, column: np.ndarray | None, what: str) -> FactorSource:
    return lambda rng_factory: None


@LATENCY_DISTS.register("lognormal")
def _lognormal(cv: float, column: np.ndarray | None, what: str) -> FactorSource:
    """Each owner draws from its own stream."""
    if cv <= 0:
        return lambda rng_factory: None
    return lambda rng_factory: LognormalFactors(cv, rng_factory)


@LATENCY_DISTS.register("trace")
def _trace(cv: float, column: np.ndarray | None, what: str) -> FactorSource:
    """Nothing is drawn, so every owner shares one table (built once: a copy per device would
    cost ~30 bytes per trace row and device)."""
    if column is None:
        raise ScenarioError(f"{what}: 'trace' needs a trace with recorded times; this one has none")
    if not np.all(np.isfinite(column)) or np.any(column <= 0):
        raise ScenarioError(f"{what}: 'trace' needs positive recorded times in every row")
    shared = TraceFactors(np.asarray(column, dtype=np.float64))
    return lambda rng_factory: shared


def factor_source(kind: str, cv: float, column: np.ndarray | None, what: str) -> FactorSource:
    """The run's source of ``kind`` factors; fails at set-up (``cuhlm validate``), not mid-run,
    when the trace lacks what ``kind`` needs. ``column`` is the trace's recorded times,
    ``what`` names the scenario key in errors."""
    return LATENCY_DISTS.create(kind, cv, column, what)
