"""Block fading: gain statistics at stated tolerances, block structure, reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cuhlm_sim.model.channel import fading
from cuhlm_sim.model.rng import Stream, stream

N = 100_000


def test_rayleigh_mean_and_tail():
    g = fading.rayleigh_gain(stream(0, Stream.CHANNEL), N)
    # Exp(1): mean 1, std 1 → 5σ/sqrt(N) = 0.0158
    assert g.mean() == pytest.approx(1.0, abs=0.0158)
    # P(g > 1) = e^-1 = 0.3679 (binomial std 0.0015, 5σ = 0.0076)
    assert (g > 1.0).mean() == pytest.approx(math.exp(-1.0), abs=0.0076)


def test_rician_mean_one_and_variance():
    k = 10.0
    g = fading.rician_gain(stream(1, Stream.CHANNEL), k, N)
    # Var|h|² = (1 + 2K)/(K + 1)² = 21/121 = 0.173554 (std 0.4166 → mean 5σ = 0.0066)
    assert g.mean() == pytest.approx(1.0, abs=0.0066)
    assert g.var() == pytest.approx(21.0 / 121.0, rel=0.05)


def test_rician_k_zero_is_rayleigh():
    g = fading.rician_gain(stream(2, Stream.CHANNEL), 0.0, N)
    assert g.mean() == pytest.approx(1.0, abs=0.0158)
    assert (g > 1.0).mean() == pytest.approx(math.exp(-1.0), abs=0.0076)


def test_rician_large_k_concentrates_near_one():
    # K = 1e4: std sqrt(2e4 + 1)/(1e4 + 1) = 0.0141; every draw within 0.1 (7σ)
    g = fading.rician_gain(stream(3, Stream.CHANNEL), 1e4, 10_000)
    assert np.all(np.abs(g - 1.0) < 0.1)
    np.testing.assert_array_equal(fading.rician_gain(stream(3, Stream.CHANNEL), np.inf, 5), 1.0)
    with pytest.raises(ValueError, match="K factor"):
        fading.rician_gain(stream(3, Stream.CHANNEL), -1.0, 5)


def test_draw_gain_kinds():
    rng = stream(4, Stream.CHANNEL)
    np.testing.assert_array_equal(fading.draw_gain(rng, "none", 3), 1.0)
    assert fading.draw_gain(rng, "rayleigh", (2, 3)).shape == (2, 3)
    with pytest.raises(ValueError, match="unknown fading kind"):
        fading.draw_gain(rng, "nakagami", 3)  # type: ignore[arg-type]


def test_coherence_time():
    # f_m = 10 m/s · 3.5e9 / 299792458 = 116.7474 Hz; T_c = 0.423 / 116.7474 = 3.6232 ms
    assert float(fading.doppler_hz(10.0, 3.5)) == pytest.approx(116.7474, abs=1e-4)
    tc = fading.coherence_time_s(np.array([10.0, 0.0]), 3.5)
    assert tc[0] == pytest.approx(3.6232e-3, abs=1e-7)
    assert tc[1] == math.inf


def _rngs(seed: int, n: int) -> list[np.random.Generator]:
    return [stream(seed, Stream.CHANNEL, d) for d in range(n)]


def test_block_fading_constant_within_block_and_redrawn_across():
    bf = fading.BlockFading(_rngs(5, 4), coherence_s=0.01, blocks_per_draw=8)
    a = bf.gains(0.0).copy()
    np.testing.assert_array_equal(bf.gains(0.0099), a)  # same block 0
    b = bf.gains(0.0101)  # block 1
    assert np.all(b != a)
    np.testing.assert_array_equal(bf.block_index(0.0101), 1)


def test_block_fading_deterministic_whatever_the_query_pattern():
    times = np.arange(0.0, 2.0, 0.0037)
    dense = fading.BlockFading(_rngs(6, 3), 0.01, "rician", k_factor=3.0, blocks_per_draw=16)
    every = np.array([dense.gains(t) for t in times])  # [num_times, num_devices]
    sparse = fading.BlockFading(_rngs(6, 3), 0.01, "rician", k_factor=3.0, blocks_per_draw=16)
    # skip ahead over several chunks, then compare at the last time
    np.testing.assert_array_equal(sparse.gains(times[-1]), every[-1])
    # a device's gains do not depend on how many devices there are (own stream each)
    more = fading.BlockFading(_rngs(6, 5), 0.01, "rician", k_factor=3.0, blocks_per_draw=16)
    np.testing.assert_array_equal(more.gains(times[-1])[:3], every[-1])


def test_block_fading_per_device_coherence_and_static():
    bf = fading.BlockFading(_rngs(7, 2), np.array([0.01, np.inf]), blocks_per_draw=4)
    g0 = bf.gains(0.0).copy()
    g1 = bf.gains(5.0)
    assert g1[0] != g0[0]
    assert g1[1] == g0[1]  # static device keeps block 0
    np.testing.assert_array_equal(bf.block_index(5.0), [500, 0])


def test_block_fading_long_run_mean():
    # 2000 blocks × 50 devices = 1e5 Exp(1) draws: mean within 5σ = 0.0158
    bf = fading.BlockFading(_rngs(8, 50), 0.001, blocks_per_draw=256)
    g = np.array([bf.gains(0.001 * k + 0.0005) for k in range(2000)])  # [num_blocks, 50]
    assert g.mean() == pytest.approx(1.0, abs=0.0158)
    assert np.all(bf.gains_db(1.9995) == 10.0 * np.log10(g[-1]))


def test_block_fading_refuses_going_back_and_bad_args():
    bf = fading.BlockFading(_rngs(9, 2), 0.01, blocks_per_draw=2)
    bf.gains(1.0)
    with pytest.raises(ValueError, match="back in time"):
        bf.gains(0.0)
    with pytest.raises(ValueError, match="coherence"):
        fading.BlockFading(_rngs(9, 2), 0.0)


def test_device_gain_matches_vector_gains():
    vec = fading.BlockFading(_rngs(10, 3), np.array([0.01, 0.02, np.inf]), blocks_per_draw=4)
    one = fading.BlockFading(_rngs(10, 3), np.array([0.01, 0.02, np.inf]), blocks_per_draw=4)
    for t in (0.0, 0.035, 0.2, 0.9):
        g = vec.gains(t)
        assert [one.device_gain(d, t) for d in range(3)] == g.tolist()
    # next block starts: (floor(0.035/0.01) + 1) · 0.01 = 0.04; (1 + 1) · 0.02 = 0.04; static inf
    np.testing.assert_allclose(vec.next_block_at(0.035), [0.04, 0.04, np.inf])


def test_next_block_always_advances_the_block():
    # T_c = 0.423 / (8 · 3.5e9 / c) = 4.529 ms: (b + 1) T_c can round back into block b
    tc = float(fading.coherence_time_s(8.0, 3.5))
    bf = fading.BlockFading(_rngs(11, 1), tc)
    t = 0.0
    for b in range(1, 20_001):
        t = float(bf.next_block_at(t)[0])
        assert bf.block_index(t)[0] == b
