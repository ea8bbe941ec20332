"""TR 38.901 path loss, LOS probability and shadowing against values computed by hand here.

Shared numbers: f_c = 3.5 GHz, so 20 log10(3.5) = 20 · 0.544068 = 10.8814 dB; h_UT = 1.5 m.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cuhlm_sim.model.channel import geometry, pathloss
from cuhlm_sim.model.rng import Stream, device_streams, stream

FC_TERM_DB = 10.8814  # 20 log10(3.5)


def test_breakpoint_distances():
    # UMa: 4 (25-1)(1.5-1) 3.5e9 / 3e8 = 4 · 24 · 0.5 · 11.6667 = 560 m
    assert pathloss.breakpoint_distance_m(3.5, 25.0, 1.5) == pytest.approx(560.0)
    # UMi: 4 (10-1)(1.5-1) 3.5e9 / 3e8 = 4 · 9 · 0.5 · 11.6667 = 210 m
    assert pathloss.breakpoint_distance_m(3.5, 10.0, 1.5) == pytest.approx(210.0)


def test_uma_los_at_100_m_is_pl1():
    # d_3D = 100 m → d_2D = sqrt(100² − 23.5²) = 97.2 m < d'_BP = 560 m → PL1
    # PL1 = 28.0 + 22 log10(100) + 20 log10(3.5) = 28 + 44 + 10.8814 = 82.8814 dB
    d2d = math.sqrt(100.0**2 - 23.5**2)
    got = pathloss.uma_pathloss_db(np.array([d2d]), True)
    assert got[0] == pytest.approx(82.8814, abs=1e-3)


def test_uma_los_at_1000_m_is_pl2():
    # d_2D = sqrt(1000² − 23.5²) = 999.7 m > 560 m → PL2
    # PL2 = 28 + 40·3 + 10.8814 − 9 log10(560² + 23.5²)
    #     = 158.8814 − 9 log10(313600 + 552.25) = 158.8814 − 9 · 5.497140 = 109.4071 dB
    d2d = math.sqrt(1000.0**2 - 23.5**2)
    got = pathloss.uma_pathloss_db(np.array([d2d]), np.array([True]))
    assert got[0] == pytest.approx(109.4071, abs=1e-3)


def test_uma_nlos_at_1000_m_takes_the_max():
    # PL'_NLOS = 13.54 + 39.08·3 + 10.8814 − 0.6·0 = 141.6614 dB > PL_LOS = 109.4071 dB
    d2d = math.sqrt(1000.0**2 - 23.5**2)
    got = pathloss.uma_pathloss_db(np.array([d2d]), False)
    assert got[0] == pytest.approx(141.6614, abs=1e-3)


def test_umi_nlos_at_200_m():
    # d_3D = sqrt(200² + 8.5²) = 200.1805 m, log10 = 2.301422; d_2D = 200 m < d'_BP = 210 m
    # PL_LOS  = 32.4 + 21 · 2.301422 + 10.8814 = 91.6112 dB
    # PL'_NLOS = 35.3 · 2.301422 + 22.4 + 21.3 · 0.544068 = 81.2402 + 22.4 + 11.5886 = 115.2288
    got = pathloss.umi_pathloss_db(np.array([200.0, 200.0]), np.array([True, False]))
    np.testing.assert_allclose(got, [91.6112, 115.2288], atol=1e-3)


def test_umi_los_beyond_breakpoint():
    # d_2D = 500 m > 210 m; d_3D = 500.0722 m, log10 = 2.699033
    # PL2 = 32.4 + 40 · 2.699033 + 10.8814 − 9.5 log10(210² + 8.5²)
    #     = 32.4 + 107.9613 + 10.8814 − 9.5 · 4.645150 = 107.1138 dB
    got = pathloss.pathloss_db("umi", np.array([500.0]), True)
    assert got[0] == pytest.approx(107.1138, abs=1e-3)


def test_los_is_continuous_at_the_breakpoint():
    d_bp = pathloss.breakpoint_distance_m(3.5, 25.0, 1.5)
    below, above = pathloss.uma_pathloss_db(np.array([d_bp, d_bp + 1e-6]), True)
    assert above == pytest.approx(below, abs=1e-3)


def test_nlos_never_below_los():
    d = np.linspace(10.0, 5000.0, 500)
    for scenario in ("uma", "umi"):
        nlos = pathloss.pathloss_db(scenario, d, False)
        los = pathloss.pathloss_db(scenario, d, True)
        assert np.all(nlos >= los)


def test_pathloss_refuses_distances_outside_the_table():
    with pytest.raises(ValueError, match="d_2D"):
        pathloss.uma_pathloss_db(np.array([5.0]), True)
    with pytest.raises(ValueError, match="d_2D"):
        pathloss.umi_pathloss_db(np.array([6000.0]), True)


def test_los_probability_values():
    d = np.array([10.0, 18.0, 100.0])
    # d <= 18 m → 1
    # UMa, d = 100: 18/100 + exp(−100/63)(1 − 18/100) = 0.18 + 0.204477 · 0.82 = 0.347671
    np.testing.assert_allclose(pathloss.los_probability("uma", d), [1, 1, 0.347671], atol=1e-6)
    # UMi, d = 100: 0.18 + exp(−100/36) · 0.82 = 0.18 + 0.062177 · 0.82 = 0.230985
    np.testing.assert_allclose(pathloss.los_probability("umi", d), [1, 1, 0.230985], atol=1e-6)


def test_uma_los_probability_tall_device():
    # h_UT = 23 m: C' = ((23 − 13)/10)^1.5 = 1; d = 100 m:
    # 0.347671 · (1 + 1 · 5/4 · 1³ · exp(−100/150)) = 0.347671 · (1 + 1.25 · 0.513417) = 0.570796
    got = pathloss.los_probability("uma", np.array([100.0]), h_ut_m=23.0)
    assert got[0] == pytest.approx(0.570796, abs=1e-6)


def test_free_space_at_1_m():
    # 20 log10(4π · 1 · 3.5e9 / 299792458) = 20 log10(146.7092) = 43.3291 dB
    assert float(pathloss.free_space_pathloss_db(1.0, 3.5)) == pytest.approx(43.3291, abs=1e-3)


def test_log_distance():
    # n = 3, d0 = 1 m (free space 43.3291 dB): PL(100 m) = 43.3291 + 10 · 3 · 2 = 103.3291 dB
    got = pathloss.log_distance_pathloss_db(np.array([1.0, 100.0]), 3.0, carrier_ghz=3.5)
    np.testing.assert_allclose(got, [43.3291, 103.3291], atol=1e-3)
    # Given PL(d0 = 10 m) = 70 dB, n = 3.5: PL(1000 m) = 70 + 35 · 2 = 140 dB
    got = pathloss.log_distance_pathloss_db(
        1000.0, 3.5, reference_distance_m=10.0, reference_loss_db=70.0
    )
    assert float(got) == pytest.approx(140.0)


def test_shadowing_std_from_table():
    los = np.array([True, False])
    np.testing.assert_array_equal(pathloss.shadowing_std_db("uma", los), [4.0, 6.0])
    np.testing.assert_array_equal(pathloss.shadowing_std_db("umi", los), [4.0, 7.82])


def test_draw_shadowing_and_los_statistics():
    rng = stream(1, Stream.CHANNEL)
    n = 100_000
    s = pathloss.draw_shadowing_db(rng, "umi", np.zeros(n, dtype=bool))
    # std of the sample std of n normals ≈ σ/sqrt(2n) = 7.82/447 = 0.0175; allow 5×
    assert s.std() == pytest.approx(7.82, abs=0.09)
    assert abs(s.mean()) < 5 * 7.82 / math.sqrt(n)
    los = pathloss.draw_los(rng, np.full(n, 0.3))
    # binomial std sqrt(0.3 · 0.7 / n) = 0.00145; allow 5×
    assert los.mean() == pytest.approx(0.3, abs=0.0073)


def test_large_scale_loss_matches_pathloss_plus_shadowing():
    rng = stream(7, Stream.CHANNEL)
    pos = geometry.drop_annulus(rng, 2000, 35.0, 500.0)
    model = geometry.LargeScaleLoss(device_streams(7, Stream.SHADOWING, 2000), "uma")
    d2d = geometry.distance_2d_m(pos)
    los = model.los(pos)
    loss, shadow = model.components_db(pos)
    np.testing.assert_allclose(loss, pathloss.uma_pathloss_db(d2d, los))
    # shadowing = σ(LOS) · z with z standard normal: std of shadow/σ ≈ 1
    ratio = shadow / pathloss.shadowing_std_db("uma", los)
    assert ratio.std() == pytest.approx(1.0, abs=0.08)
    np.testing.assert_allclose(model.loss_db(pos), loss + shadow)
    # LOS fraction ≈ mean LOS probability over the drop (binomial, 5σ ≈ 0.05)
    assert los.mean() == pytest.approx(pathloss.los_probability("uma", d2d).mean(), abs=0.05)


def test_large_scale_log_distance_without_shadowing():
    model = geometry.LargeScaleLoss(
        device_streams(0, Stream.SHADOWING, 2), "log_distance", exponent=3.0, shadowing=False
    )
    pos = np.array([[100.0, 0.0], [0.0, 10.0]])
    # 43.3291 + 30 log10(100) = 103.3291; 43.3291 + 30 = 73.3291
    np.testing.assert_allclose(model.loss_db(pos), [103.3291, 73.3291], atol=1e-3)


def test_large_scale_loss_of_a_device_does_not_depend_on_the_device_count():
    """LOS state and shadowing of device d come from device d's own stream (issue 11, 5)."""
    pos = geometry.drop_annulus(stream(3, Stream.CHANNEL), 50, 35.0, 500.0)  # [50, 2]
    losses = {}
    for n in (1, 2, 3, 50):
        model = geometry.LargeScaleLoss(device_streams(3, Stream.SHADOWING, n), "uma")
        losses[n] = model.components_db(pos[:n])
    for n in (2, 3, 50):
        for got, ref in zip(losses[n], losses[1], strict=True):
            np.testing.assert_array_equal(got[:1], ref)
    for got, ref in zip(losses[50], losses[3], strict=True):
        np.testing.assert_array_equal(got[:3], ref)
