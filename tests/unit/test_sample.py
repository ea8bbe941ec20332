"""The bounded quantile sample: exact while small, within half a log bin once folded."""

from __future__ import annotations

import math

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


def _stable_reference(values: np.ndarray, weights: np.ndarray, qs) -> list[float]:
    """Inverted CDF by hand: pairs in value order, ties in input order (Python's sort is
    stable), running sum left to right; the first value whose running sum reaches q * total."""
    pairs = sorted(zip(values.tolist(), weights.tolist(), strict=True), key=lambda p: p[0])
    cum, run = [], 0.0
    for _, w in pairs:
        run += w
        cum.append(run)
    out = []
    for q in qs:
        target = q * cum[-1]
        out.append(
            next((v for (v, _), c in zip(pairs, cum, strict=True) if c >= target), pairs[-1][0])
        )
    return out


def test_count_weights_with_many_ties_match_the_expanded_sample():
    """Whole-number weights (the sort need not be stable): the quantiles of the sample with
    every value repeated weight times, read off the sorted expansion at rank ceil(q N)."""
    rng = np.random.default_rng(5)
    for n, distinct in ((50_000, 40), (20_000, 3), (3_000, 2_000)):
        values = rng.choice(rng.lognormal(-2, 1, distinct), size=n)
        weights = rng.integers(1, 5, size=n).astype(np.float64)
        expanded = np.sort(np.repeat(values, weights.astype(np.int64)))
        expected = [float(expanded[max(math.ceil(q * expanded.size), 1) - 1]) for q in QS]
        assert weighted_quantiles(values, weights, QS) == expected


def test_fractional_weights_keep_ties_in_input_order():
    """Fractional weights: the running sum at the end of a run of equal values depends on the
    order of the run in its last bits, so the answer must be the stable one. Each case puts
    q * total on the stable running sum at the end of a run of 30k equal values (the run's
    value is the quantile) and one step above it (the next value is): any other order of the
    run, whose sum is a few ulps off either way, flips one of the two (the next value weighs
    as much as the run, so q * total moves by only half that shift)."""
    rng = np.random.default_rng(11)
    for case in range(4):
        w_ties = rng.choice([0.1, 0.2, 0.3, 0.7, 1e-3], size=30_000)
        values = np.concatenate([np.full(w_ties.size, 1.0), [2.0]])
        weights = np.concatenate([w_ties, [np.round(w_ties.sum())]])
        perm = rng.permutation(values.size)
        values, weights = values[perm], weights[perm]
        end = float(np.cumsum(weights[values == 1.0])[-1])  # in input order
        total = end + float(weights[values == 2.0][0])
        q_at = end / total
        while q_at * total < end:
            q_at = float(np.nextafter(q_at, 1.0))
        q_above = q_at
        while q_above * total <= end:
            q_above = float(np.nextafter(q_above, 1.0))
        qs = [q_at, q_above]
        assert _stable_reference(values, weights, qs) == [1.0, 2.0], case
        assert weighted_quantiles(values, weights, qs) == [1.0, 2.0], case
