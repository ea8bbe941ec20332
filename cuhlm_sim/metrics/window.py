"""The measurement window: the one rule that decides which tokens and which time count.

**A token counts when its commit time t satisfies start <= t <= end** (both edges included,
no tolerance). A skipped token of a run that starts at t0 with per-token time τ commits at
``t0 + τ·(i + 1)`` (i = 0, 1, ...), always evaluated with that same floating-point expression,
so the summary, the per-device columns and the per-token log (``tokens.parquet``) classify
every token identically. Shared-resource time (GPU busy, uplink busy, airtime) counts by its
overlap with [start, end]; a GPU batch or an uplink slot counts by its start time.

Every counter of the recorder and every take-back of the devices asks this object; nothing
else compares a time with the warm-up or the end.
"""

from __future__ import annotations

import math

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
        return max(0.0, min(b, self.end) - max(a, self.start))

    @staticmethod
    def run_commits(t0: float, tau: float, count: int) -> np.ndarray:
        """Commit times of a skip run: ``t0 + τ·(i + 1)`` for i < count."""
        return t0 + tau * np.arange(1, count + 1)

    def holds_run(self, t0: float, tau: float, count: int) -> bool:
        """Whether every token of a skip run commits inside (cheap, exact: commit times grow
        with i, so the first and last decide)."""
        return self.start <= t0 + tau and t0 + tau * count <= self.end

    def run_range(self, t0: float, tau: float, count: int) -> tuple[int, int]:
        """[lo, hi): the tokens of a skip run that commit inside the window.

        The division gives a first guess; the guess is then moved until the commit times
        themselves, computed as in :meth:`run_commits`, satisfy the rule.
        """
        if count <= 0:
            return 0, 0
        if tau <= 0:
            return (0, count) if self.contains(t0) else (0, 0)
        start, end = self.start, self.end
        lo = min(count, max(0, math.ceil((start - t0) / tau) - 1))
        while lo > 0 and t0 + tau * lo >= start:  # token lo - 1 commits inside too
            lo -= 1
        while lo < count and t0 + tau * (lo + 1) < start:
            lo += 1
        hi = min(count, max(0, math.floor((end - t0) / tau)))
        while hi < count and t0 + tau * (hi + 1) <= end:
            hi += 1
        while hi > 0 and t0 + tau * hi > end:
            hi -= 1
        return lo, max(lo, hi)
