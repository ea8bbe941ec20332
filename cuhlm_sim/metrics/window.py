"""The measurement window: the one rule that decides which tokens and which time count.

**A token counts when its commit time t satisfies start <= t <= end** (both edges included,
no tolerance). A skipped token of a run that starts at t0 commits at ``t0 + τ·(i + 1)``
(i = 0, 1, ...) with a constant per-token time τ, or at ``t0 + (C[p+i+1] − C[p])`` with the
block's prefix sums C of jittered times (run from block position p); the device and the
recorder always evaluate the same expression, so the summary, the per-device columns and the
per-token log (``tokens.parquet``) classify every token identically. Shared-resource time (GPU
busy, uplink busy, airtime) counts by its overlap with [start, end]; a GPU batch or an uplink
slot counts by its start time.

Every counter of the recorder and every take-back of the devices asks this object; nothing
else compares a time with the warm-up or the end.
"""

from __future__ import annotations

import numpy as np


class Window:
    """The closed interval [start, end] of simulated time that the summary covers [s]."""

    __slots__ = ("end", "start")

    def __init__(self, start: float, end: float) -> None:
        self.start = float(start)
        self.end = float(end)

    def __repr__(self) -> str:
        return f"Window({self.start!r}, {self.end!r})"

    def contains(self, t: float) -> bool:
        """Whether an instant (a commit, a batch start) lies in the window."""
        return self.start <= t <= self.end

    def contains_array(self, t: np.ndarray) -> np.ndarray:
        """:meth:`contains` for an array of instants."""
        return (t >= self.start) & (t <= self.end)

    def overlap(self, a: float, b: float) -> float:
        """Length of [a, b] ∩ [start, end]: the in-window share of a busy period."""
        start, end = self.start, self.end
        if start <= a and b <= end:  # the common case, without the min/max calls (same float)
            return b - a if b >= a else 0.0
        return max(0.0, min(b, end) - max(a, start))

    @staticmethod
    def run_commits(t0: float, tau: float, count: int) -> np.ndarray:
        """Commit times of a skip run of constant per-token time: ``t0 + τ·(i + 1)``."""
        return t0 + tau * np.arange(1, count + 1)

    def holds(self, first: float, last: float) -> bool:
        """Whether every token of a skip run whose first and last commit at ``first`` and
        ``last`` counts (cheap, exact: commit times never decrease along a run)."""
        return self.start <= first and last <= self.end

    def run_range(self, commits: np.ndarray) -> tuple[int, int]:
        """[lo, hi): the tokens of a skip run (non-decreasing ``commits``) inside the window."""
        lo = int(np.searchsorted(commits, self.start, side="left"))
        hi = int(np.searchsorted(commits, self.end, side="right"))
        return lo, max(lo, hi)
