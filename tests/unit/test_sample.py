"""The bounded quantile sample: exact while small, within half a log bin once folded."""

from __future__ import annotations

import numpy as np
import pytest

from cuhlm_sim.metrics.compute import weighted_quantiles
from cuhlm_sim.metrics.sample import BINS_PER_DECADE, BoundedSample

QS = (0.01, 0.5, 0.9, 0.95, 0.99, 0.999)


def _fill(sample: BoundedSample, x: np.ndarray, chunk: int = 1000) -> None:
    for i in range(0, x.size, chunk):
        for v in x[i : i + chunk].tolist():
            sample.append(v)
        sample.fold_if_full()


def test_exact_while_below_the_limit():
    x = np.random.default_rng(0).lognormal(-3, 1, 5000).astype(np.float32)
    s = BoundedSample(exact_limit=10_000)
    _fill(s, x)
    assert s.exact and len(s) == x.size
    vals, w = s.weighted()
    assert weighted_quantiles(vals, w, QS) == weighted_quantiles(
        x.astype(np.float64), np.ones(x.size), QS
    )


def test_folded_quantiles_within_half_a_bin_and_memory_bounded():
    rng = np.random.default_rng(1)
    # Latency-like values over six decades, plus exact zeros (GPU waits often are).
    x = np.concatenate([rng.lognormal(-4, 2, 200_000), np.zeros(20_000)]).astype(np.float32)
    rng.shuffle(x)
    s = BoundedSample(exact_limit=4096)
    _fill(s, x)
    assert not s.exact and len(s) == x.size
    assert len(s._buf) < 4096  # memory: the buffer never outgrows the limit
    vals, w = s.weighted()
    assert w.sum() == x.size
    exact = weighted_quantiles(x.astype(np.float64), np.ones(x.size), QS)
    approx = weighted_quantiles(vals, w, QS)
    half_bin = 10 ** (0.5 / BINS_PER_DECADE) - 1  # 0.058 %
    for q, e, a in zip(QS, exact, approx, strict=True):
        if e == 0:
            assert a == 0, q
        else:
            assert a == pytest.approx(e, rel=half_bin * 1.01), q
    assert np.mean(x == 0) > 0.05 and approx[0] == 0.0  # zeros keep their own bin


def test_out_of_range_values_land_in_the_edge_bins():
    s = BoundedSample(exact_limit=1)
    for v in (1e-12, 5e7, 0.25):
        s.append(v)
        s.fold_if_full()
    vals, _ = s.weighted()
    assert sorted(vals.tolist()) == pytest.approx([1e-9, 0.25, 1e6], rel=1e-3)
