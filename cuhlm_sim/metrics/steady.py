"""Steady state: where the start-up transient ends (MSER-5) and whether a run reached it.

The rule is MSER-5 (White 1997; White, Cobb & Spratt 2000, "A comparison of five steady-state
truncation heuristics for simulation", Proc. Winter Simulation Conference): the series
Y_1..Y_n (here: verified-token latencies in commit order) is cut into b = ⌊n/5⌋ batch means
Z_1..Z_b of 5 consecutive observations; the truncation point is the d in 0..⌊b/2⌋ (the first
half of the series) that minimises

    MSER(d) = 1/(b − d)² · Σ_{j=d+1..b} (Z_j − Z̄(d))²,     Z̄(d) = mean of Z_{d+1..b},

i.e. the squared standard error of the mean of what is kept. The first 5·d observations are
the warm-up. A minimum at the end of the searched range means the series is still drifting:
the detector has found no end of the transient (:func:`mser5` says so with ``found``).

:class:`LatencySeries` collects the batch means during a run in O(1) memory per 5 tokens.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np

#: Observations per batch mean (the "5" of MSER-5).
BATCH = 5
#: Fewer batch means than this: too short a series to tell a transient from noise.
MIN_BATCHES = 10
#: The transient counts as ended when the truncation lies before this share of the searched
#: range ⌊b/2⌋; a minimum in the last tenth means the series still drifts there.
FOUND_BEFORE = 0.9
#: Requests each device must complete in the window, on average, for a steady state.
MIN_REQUESTS_PER_DEVICE = 10


@dataclass(frozen=True)
class Truncation:
    """MSER-5's answer for one series.

    ``batches``: batch means truncated (d); ``found``: whether the transient ended inside the
    searched range (or there was nothing to detect: an empty series of verified tokens).
    """

    batches: int
    found: bool

    @property
    def observations(self) -> int:
        """Observations truncated: 5·d."""
        return BATCH * self.batches


def mser_statistic(z: np.ndarray) -> np.ndarray:
    """MSER(d) for d = 0..⌊b/2⌋ over the batch means ``z`` (b values), in O(b).

    Tail sums over z − z[-1] (the last value belongs to every tail, so a constant series gives
    exact zeros and no rounding noise decides its minimum).
    """
    z = np.asarray(z, dtype=np.float64)
    b = z.size
    x = z - z[-1]
    s1 = np.cumsum(x[::-1])[::-1]  # Σ_{j>=d} x_j, d = 0..b-1
    s2 = np.cumsum((x * x)[::-1])[::-1]
    d = np.arange(b // 2 + 1)
    k = (b - d).astype(np.float64)
    ss = np.maximum(s2[d] - s1[d] ** 2 / k, 0.0)
    return ss / (k * k)


def mser5_batches(z: np.ndarray) -> Truncation:
    """MSER on batch means ``z`` already formed (see module doc)."""
    b = len(z)
    if b < MIN_BATCHES:
        return Truncation(0, False)
    stat = mser_statistic(z)
    # The first d within float rounding of the minimum: ties (a flat tail) go to less truncation.
    lo = float(stat.min())
    d = int(np.flatnonzero(stat <= lo + 1e-12 * max(lo, float(stat.max())))[0])
    return Truncation(d, d < FOUND_BEFORE * (b // 2))


def batch_means(y: np.ndarray) -> np.ndarray:
    """Means of consecutive groups of 5; an incomplete last group is dropped."""
    y = np.asarray(y, dtype=np.float64)
    b = y.size // BATCH
    return y[: b * BATCH].reshape(b, BATCH).mean(axis=1)


def mser5(y: np.ndarray) -> Truncation:
    """MSER-5 on the raw series ``y`` (in time order)."""
    return mser5_batches(batch_means(y))


class LatencySeries:
    """Batch means of 5 verified-token latencies in commit order, with the commit time of each
    batch's first observation (so a truncation becomes a time)."""

    __slots__ = ("_pending", "_t0", "means", "starts")

    def __init__(self) -> None:
        self.means = array("d")
        self.starts = array("d")
        self._pending: list[float] = []  # fewer than BATCH between calls
        self._t0 = 0.0  # commit time of _pending[0]

    def extend(self, t: float, latencies: list[float]) -> None:
        """Observations that commit together at ``t`` (one GPU batch)."""
        p = self._pending
        if not p:
            self._t0 = t
        p.extend(latencies)
        n = len(p)
        if n < BATCH:
            return
        full = n - n % BATCH
        # Only the first batch can start with an earlier call's observation (fewer than BATCH
        # wait between calls); every later one starts with one of these, committed at t.
        starts = self.starts
        for i in range(0, full, BATCH):
            self.means.append(sum(p[i : i + BATCH]) / BATCH)
            starts.append(self._t0 if i == 0 else t)
        del p[:full]
        self._t0 = t

    def __len__(self) -> int:
        return len(self.means)

    def truncation(self) -> Truncation:
        """MSER-5 on the series so far; an empty series (no verified token: every token's
        latency is the constant device time) has no transient to detect."""
        if not self.means and not self._pending:
            return Truncation(0, True)
        return mser5_batches(np.frombuffer(self.means, dtype=np.float64))

    def truncation_time(self, cut: Truncation) -> float:
        """Commit time of the first observation kept (0 when nothing is cut)."""
        return self.starts[cut.batches] if cut.batches else 0.0
