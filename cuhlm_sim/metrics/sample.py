"""A sample for quantiles whose memory is bounded, whatever the number of tokens.

Per-token latencies and GPU waits are appended as float64 (8 bytes each; float32 put the mean
latency off by ~1e-7 relative, so the summary and the token log disagreed). Up to
``exact_limit`` values are kept as they are, so quantiles of short runs are exact. Beyond that
the values are folded into a histogram with log-spaced bins (:data:`BINS_PER_DECADE` per
decade, from :data:`LO_S` to :data:`HI_S`), so memory stays ``exact_limit`` floats plus a fixed
array of counts and a quantile is off by at most half a bin: a relative error below 0.06 %.
"""

from __future__ import annotations

from array import array

import numpy as np

#: Histogram range [s]; values at or below 0 go to a bin of their own (exact zeros are common
#: for GPU waits), values in (0, LO_S) to an underflow bin, values >= HI_S to an overflow bin.
LO_S, HI_S = 1e-9, 1e6
#: Relative bin width 10^(1/2000) - 1 = 0.115 %.
BINS_PER_DECADE = 2000
_N_LOG_BINS = round(float(np.log10(HI_S / LO_S)) * BINS_PER_DECADE)
#: Values kept exactly before the first fold (8 MiB of float64).
EXACT_LIMIT = 1 << 20


def _bin_values() -> np.ndarray:
    """Value that stands for each bin: 0, LO_S, the geometric centres of the log bins, HI_S."""
    k = np.arange(_N_LOG_BINS, dtype=np.float64)
    centres = LO_S * 10.0 ** ((k + 0.5) / BINS_PER_DECADE)
    return np.concatenate(([0.0, LO_S], centres, [HI_S]))


def _bin_counts(x: np.ndarray) -> np.ndarray:
    idx = np.empty(x.size, dtype=np.int64)
    pos = x > 0
    with np.errstate(divide="ignore"):
        k = np.floor(np.log10(x[pos] / LO_S) * BINS_PER_DECADE).astype(np.int64) + 2
    idx[pos] = np.clip(k, 1, _N_LOG_BINS + 2)
    idx[~pos] = 0
    return np.bincount(idx, minlength=_N_LOG_BINS + 3)


class BoundedSample:
    """Float samples for quantiles: exact up to ``exact_limit`` values, then log-binned."""

    def __init__(self, exact_limit: int = EXACT_LIMIT) -> None:
        self.exact_limit = exact_limit
        self._buf = array("d")
        #: ``append(x)`` for hot loops (the buffer object never changes, so it can be cached).
        self.append = self._buf.append
        self._counts: np.ndarray | None = None  # int64 [N_LOG_BINS + 3], after the first fold

    def __len__(self) -> int:
        folded = 0 if self._counts is None else int(self._counts.sum())
        return folded + len(self._buf)

    @property
    def exact(self) -> bool:
        """True while every value is still kept as it is."""
        return self._counts is None

    def fold_if_full(self) -> None:
        """Fold the exact buffer into the histogram once it holds ``exact_limit`` values."""
        if len(self._buf) >= self.exact_limit:
            self._fold()

    def extend(self, values: np.ndarray) -> None:
        """Append many values at once (then fold if full)."""
        self._buf.frombytes(np.ascontiguousarray(values, dtype=np.float64).tobytes())
        self.fold_if_full()

    def _fold(self) -> None:
        counts = _bin_counts(np.frombuffer(self._buf, dtype=np.float64))
        self._counts = counts if self._counts is None else self._counts + counts
        del self._buf[:]

    def all_binned(self) -> np.ndarray:
        """int64 bin counts of every value added, the exact ones binned too (not kept)."""
        counts = _bin_counts(np.frombuffer(self._buf, dtype=np.float64))
        return counts if self._counts is None else counts + self._counts

    def exact_values(self) -> np.ndarray:
        """The values not yet folded."""
        return np.frombuffer(self._buf, dtype=np.float64).copy()

    def weighted(self) -> tuple[np.ndarray, np.ndarray]:
        """(values, weights) standing for every value added: the exact ones with weight 1,
        then one point per non-empty histogram bin weighted by its count."""
        exact = np.frombuffer(self._buf, dtype=np.float64).copy()
        if self._counts is None:
            return exact, np.ones(exact.size)
        nz = np.flatnonzero(self._counts)
        values = np.concatenate([exact, _bin_values()[nz]])
        weights = np.concatenate([np.ones(exact.size), self._counts[nz].astype(np.float64)])
        return values, weights


class SignedSample:
    """A :class:`BoundedSample` that values can be taken back from (booked with sign -1).

    Devices book a block's jittered skip latencies at once and take back those of tokens that
    commit outside the window (the ledger's rule, :mod:`cuhlm_sim.metrics.ledger`). A taken-back
    value is always one that was added, bit for bit, so while nothing is folded the net sample
    is exact (equal values cancel); once either side has folded, both are compared bin by bin,
    where each taken-back value meets the value it cancels, so the counts stay >= 0 and a
    quantile keeps the histogram's half-bin bound.
    """

    def __init__(self, exact_limit: int = EXACT_LIMIT) -> None:
        self.added = BoundedSample(exact_limit)
        self.removed = BoundedSample(exact_limit)
        self._total = 0.0  # running Σ of the net values, exact whatever has been folded

    def book(self, values: np.ndarray, sign: int) -> None:
        (self.added if sign > 0 else self.removed).extend(values)
        s = float(np.sum(values))
        self._total += s if sign > 0 else -s

    def total(self) -> float:
        """Σ of the net values: a running float sum (never from the bins, so the block path,
        which also books values it later takes back, and the exact path agree)."""
        return self._total

    def weighted(self) -> tuple[np.ndarray, np.ndarray]:
        """(values, net weights > 0) standing for what was added and not taken back."""
        if self.added.exact and self.removed.exact:
            values = np.concatenate([self.added.exact_values(), self.removed.exact_values()])
            signs = np.concatenate([np.ones(len(self.added)), -np.ones(len(self.removed))])
            uniq, inv = np.unique(values, return_inverse=True)
            w = np.bincount(inv, weights=signs, minlength=uniq.size)
        else:
            uniq = _bin_values()
            w = (self.added.all_binned() - self.removed.all_binned()).astype(np.float64)
        keep = w > 0
        return uniq[keep], w[keep]
