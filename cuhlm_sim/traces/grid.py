r"""The uncertainty grid: every skip decision compares integer draw counts.

The U-HLM estimator (``u = u_count / K``, K tempered draws) only takes the K + 1 values
k/K. Traces store ``uncertainty`` as float32, and float32(k/K) is not k/K: float32(0.1) is
larger than the float64 threshold 0.1, so ``u <= 0.1`` silently dropped every row with
u_count = 2 of K = 20. A threshold is therefore turned into a count once,

.. math:: c(u_{th}) = \lfloor u_{th} K + \epsilon \rfloor,\qquad
          \text{skip} \iff u\_count \le c(u_{th}),

which is "u <= u_th" for u on the grid, with a slack ε = 1e-9 (in units of u·K, i.e. u_th
may fall short of a grid point by up to ε/K and still reach it): it absorbs the representation
error of a threshold written in decimal (0.15, or 3 × 0.05 from a sweep) without moving any
threshold that lies genuinely between two grid points. K comes from the trace metadata, or is
inferred from ``u_count / uncertainty`` when the metadata lacks it. Traces whose u is
continuous (no ``u_count`` and values off the grid) compare u with the threshold rounded to
float32, the precision u is stored in, so float32(0.1) counts as 0.1 there too.
"""

from __future__ import annotations

import math

import numpy as np

from cuhlm_sim.errors import TraceError

#: Slack for thresholds written in decimal (see the module docstring).
GRID_EPS = 1e-9
#: Largest |u·K − round(u·K)| accepted as "on the grid" when the file has no ``u_count``
#: (float32 storage of k/K is off by at most ~1e-7·K).
_ON_GRID_TOL = 1e-4


def draws_from_meta(meta: dict) -> int | None:
    """K from a trace's metadata, or None when the trace does not say."""
    draws = meta.get("K")
    return int(draws) if isinstance(draws, int | float) and draws >= 1 else None


def threshold_count(threshold: float, draws: int) -> int:
    """Largest u_count that counts as ``u <= threshold`` with ``draws`` = K."""
    return math.floor(threshold * draws + GRID_EPS)


def infer_draws(u: np.ndarray, u_count: np.ndarray, source: str = "trace") -> int:
    """K from a trace whose metadata lacks it: u_count / u on the rows with u > 0."""
    u = np.asarray(u, dtype=np.float64)
    pos = u > 0
    if not pos.any():
        raise TraceError(f"trace.path: {source}: has u_count but no K and no u > 0 to infer it")
    ratios = np.asarray(u_count, dtype=np.float64)[pos] / u[pos]
    draws = round(float(np.median(ratios)))
    if draws < 1 or np.any(np.abs(ratios - draws) > 1e-3 * draws):
        raise TraceError(
            f"trace.path: {source}: has u_count but no K in its metadata, and u_count / "
            "uncertainty is not one constant; add K to the metadata"
        )
    return draws


def grid_counts(
    u: np.ndarray, u_count: np.ndarray | None, draws: int | None, source: str = "trace"
) -> np.ndarray | None:
    """int64 u_count per row, or None when u is continuous.

    Uses the file's ``u_count`` when present (checked against ``uncertainty``), else recovers
    the count from u when every value lies on the k/K grid.
    """
    u = np.asarray(u, dtype=np.float64)
    if (draws is None or draws < 1) and u_count is not None:
        draws = infer_draws(u, u_count, source)
    if draws is None or draws < 1:
        return None
    if u_count is not None:
        counts = np.asarray(u_count, dtype=np.int64)
        if counts.size and (counts.min() < 0 or counts.max() > draws):
            raise TraceError(f"trace.path: {source}: u_count must lie in [0, K = {draws}]")
        if np.any(np.abs(counts / draws - u) > 1e-6):
            raise TraceError(
                f"trace.path: {source}: columns uncertainty and u_count / K (K = {draws}) disagree"
            )
        return counts
    scaled = u * draws
    counts = np.rint(scaled)
    if np.all(np.abs(scaled - counts) <= _ON_GRID_TOL):
        return counts.astype(np.int64)
    return None


def grid_uncertainty(
    u: np.ndarray, u_count: np.ndarray | None, draws: int | None, source: str = "trace"
) -> tuple[np.ndarray, np.ndarray | None, int | None]:
    """(float64 u, int64 counts or None, K or None): u rounded to k/K in float64 when on the
    grid (K inferred from u_count / u when ``draws`` is None)."""
    if (draws is None or draws < 1) and u_count is not None:
        draws = infer_draws(u, u_count, source)
    counts = grid_counts(u, u_count, draws, source)
    if counts is None:
        return np.asarray(u, dtype=np.float64), None, None
    return counts / float(draws), counts, draws


def at_or_below(
    u: np.ndarray, counts: np.ndarray | None, draws: int | None, threshold: float
) -> np.ndarray:
    """bool per row: ``u <= threshold``, decided on the integer grid when there is one."""
    if counts is not None and draws:
        return counts <= threshold_count(threshold, draws)
    return np.asarray(u, dtype=np.float64) <= float(np.float32(threshold))
