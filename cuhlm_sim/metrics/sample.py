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

    def _fold(self) -> None:
        x = np.frombuffer(self._buf, dtype=np.float64).copy()
        idx = np.empty(x.size, dtype=np.int64)
        pos = x > 0
        with np.errstate(divide="ignore"):
            k = np.floor(np.log10(x[pos] / LO_S) * BINS_PER_DECADE).astype(np.int64) + 2
        idx[pos] = np.clip(k, 1, _N_LOG_BINS + 2)
        idx[~pos] = 0
        counts = np.bincount(idx, minlength=_N_LOG_BINS + 3)
        self._counts = counts if self._counts is None else self._counts + counts
        del self._buf[:]

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
