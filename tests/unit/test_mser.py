"""MSER-5 (metrics/steady.py) against a brute-force implementation written here from the
definition (White 1997), on series whose transient is known."""

from __future__ import annotations

import numpy as np
import pytest

from cuhlm_sim.metrics.steady import LatencySeries, Truncation, mser5, mser_statistic


def brute_mser5(y: np.ndarray) -> tuple[int, np.ndarray]:
    """(d*, MSER(d) for d = 0..b//2): batch means of 5 by a loop, each tail's variance
    computed afresh, the first minimum."""
    b = len(y) // 5
    z = np.array([sum(y[5 * j : 5 * j + 5]) / 5 for j in range(b)])
    stats = []
    for d in range(b // 2 + 1):
        kept = z[d:]
        stats.append(float(((kept - kept.mean()) ** 2).sum()) / (b - d) ** 2)
    stats = np.array(stats)
    return int(np.argmin(stats)), stats


def test_step_transient_is_cut_at_its_known_end():
    """Mean +3 for the first 1,000 observations, then iid N(0, 1): the cut lands within a
    couple of batches of observation 1,000, exactly where the brute force puts it."""
    rng = np.random.default_rng(4)
    y = rng.normal(0, 1, 6000)
    y[:1000] += 3.0
    cut = mser5(y)
    d_brute, stats = brute_mser5(y)
    assert cut.batches == d_brute
    assert abs(cut.observations - 1000) <= 15
    assert cut.found
    b = len(y) // 5
    np.testing.assert_allclose(mser_statistic(y[: 5 * b].reshape(b, 5).mean(axis=1)), stats)


def test_exponential_decay_is_cut_after_it_has_faded():
    """10·exp(−i/100) + N(0, 1): the bias is below a batch mean's noise (0.45) after ~300
    observations and below 0.05 after ~530; the cut lies in between, as the brute force's."""
    rng = np.random.default_rng(7)
    i = np.arange(8000)
    y = 10 * np.exp(-i / 100) + rng.normal(0, 1, i.size)
    cut = mser5(y)
    assert cut.batches == brute_mser5(y)[0]
    assert 150 <= cut.observations <= 700
    assert cut.found


@pytest.mark.parametrize("seed", range(5))
def test_stationary_series_is_barely_cut(seed):
    y = np.random.default_rng(seed).exponential(1.0, 5000)
    cut = mser5(y)
    assert cut.batches == brute_mser5(y)[0]
    assert cut.observations <= 0.05 * y.size
    assert cut.found


def test_series_still_drifting_has_no_end():
    """A trend over the whole series: the minimum sits at the end of the searched half."""
    y = np.linspace(0, 10, 3000) + np.random.default_rng(1).normal(0, 0.1, 3000)
    cut = mser5(y)
    d_brute, stats = brute_mser5(y)
    assert cut.batches == d_brute == len(stats) - 1
    assert not cut.found


def test_constant_series_cuts_nothing():
    """Equal values (a deterministic cell) give MSER = 0 everywhere: the first d, 0, wins."""
    assert mser5(np.full(500, 0.1234567)) == Truncation(0, True)


def test_too_short_a_series_finds_nothing():
    """Fewer than 10 batch means (50 values) cannot tell a transient from noise."""
    assert mser5(np.arange(49.0)) == Truncation(0, False)


def test_latency_series_batches_across_gpu_batches():
    """Observations arrive in groups (one per GPU batch); batch means of 5 run across them,
    each with the commit time of its first observation."""
    s = LatencySeries()
    s.extend(1.0, [1.0, 2.0, 3.0])
    s.extend(2.0, [4.0, 5.0, 6.0, 7.0])
    s.extend(3.0, [8.0, 9.0, 10.0, 11.0])
    assert list(s.means) == [3.0, 8.0]  # (1+..+5)/5, (6+..+10)/5; 11 still pending
    assert list(s.starts) == [1.0, 2.0]
    assert s.truncation_time(Truncation(1, True)) == 2.0
    assert s.truncation_time(Truncation(0, True)) == 0.0
    # One call spanning two batches: the first starts with the pending 11 (committed at 3),
    # the next with this call's 16 (committed at 4); 21..24 wait, the first of them from 4.
    s.extend(4.0, [12.0 + i for i in range(13)])
    assert list(s.means) == [3.0, 8.0, 13.0, 18.0]
    assert list(s.starts) == [1.0, 2.0, 3.0, 4.0]
    s.extend(5.0, [25.0, 26.0, 27.0])
    assert list(s.means) == [3.0, 8.0, 13.0, 18.0, 23.0]
    assert list(s.starts) == [1.0, 2.0, 3.0, 4.0, 4.0]


def test_empty_latency_series_has_nothing_to_detect():
    """No verified token: every latency is the device time, so there is no transient."""
    assert LatencySeries().truncation() == Truncation(0, True)
    few = LatencySeries()
    few.extend(1.0, [0.5, 0.6])
    assert few.truncation() == Truncation(0, False)
