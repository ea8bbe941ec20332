"""Link budget and SNR → rate mapping against values computed by hand here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cuhlm_sim.model.channel import budget, rate
from cuhlm_sim.model.rng import Stream, stream
from cuhlm_sim.model.uplink import shannon_spectral_efficiency


def test_thermal_noise_10_mhz_nf_9_db():
    # −174 + 10 log10(1e7) + 9 = −174 + 70 + 9 = −95 dBm
    assert float(budget.noise_power_dbm(10e6, 9.0)) == pytest.approx(-95.0)


def test_noise_over_allocated_rbs():
    # 52 RBs · 12 subcarriers · 30 kHz = 18.72 MHz; 10 RBs at 15 kHz = 1.8 MHz
    np.testing.assert_allclose(budget.rb_bandwidth_hz(np.array([52, 10]), 30e3)[0], 18.72e6)
    assert float(budget.rb_bandwidth_hz(10, 15e3)) == pytest.approx(1.8e6)
    # −174 + 10 log10(1.8e6) + 5 = −174 + 62.5527 + 5 = −106.4473 dBm
    assert float(budget.noise_power_dbm(1.8e6, 5.0)) == pytest.approx(-106.4473, abs=1e-4)


def test_dbm_watt_conversions():
    np.testing.assert_allclose(budget.dbm_to_w([30.0, 0.0, 23.0]), [1.0, 1e-3, 0.199526], rtol=1e-5)
    np.testing.assert_allclose(budget.w_to_dbm([1.0, 0.2]), [30.0, 23.0103], atol=1e-4)
    assert float(budget.db_to_linear(20.0)) == pytest.approx(100.0)
    assert float(budget.linear_to_db(0.5)) == pytest.approx(-3.0103, abs=1e-4)


def test_snr_link_budget():
    # 23 dBm − 100 dB − 2 dB (shadowing) + 1 dB (fading) − (−95 dBm) = 17 dB
    got = budget.snr_db(23.0, np.array([100.0]), -95.0, shadowing_db=2.0, fading_gain_db=1.0)
    assert got[0] == pytest.approx(17.0)


def test_duodecoding_example_of_hlm_theory():
    # docs/theory.md §6: P = 0.5 W, g = 1e-8 (80 dB loss), N = 1e-10 W → SNR = 0.5e-8/1e-10 = 50
    # = 16.9897 dB; rate over 10 MHz = 1e7 · log2(51) = 56.72 Mbit/s
    snr = budget.snr_db(budget.w_to_dbm(0.5), 80.0, budget.w_to_dbm(1e-10))
    assert float(snr) == pytest.approx(16.9897, abs=1e-4)
    assert 10e6 * float(rate.shannon_se(snr)) == pytest.approx(56.72e6, rel=1e-4)


def test_snr_over_allocation():
    # same power in 1 MHz instead of 10 MHz: noise 10 dB lower → 5 + 10 = 15 dB
    assert float(budget.snr_over_allocation_db(5.0, 10e6, 1e6)) == pytest.approx(15.0)
    with pytest.raises(ValueError, match="allocated"):
        budget.snr_over_allocation_db(5.0, 10e6, 20e6)


def test_shannon_gap_zero_equals_log2_one_plus_snr():
    snr_db = np.array([-10.0, 0.0, 10.0, 20.0])
    # 10 dB → log2(11) = 3.4594; 0 dB → log2(2) = 1
    expected = np.log2(1.0 + np.array([0.1, 1.0, 10.0, 100.0]))
    np.testing.assert_allclose(rate.shannon_se(snr_db), expected)
    np.testing.assert_allclose(rate.shannon_se(snr_db), shannon_spectral_efficiency(snr_db))
    assert float(rate.shannon_se(10.0)) == pytest.approx(3.459432, abs=1e-6)


def test_shannon_gap_and_cap():
    # Γ = 3 dB = 1.995262: SNR 10 dB → log2(1 + 10/1.995262) = log2(6.011872) = 2.587814
    assert float(rate.shannon_se(10.0, gap_db=3.0)) == pytest.approx(2.587814, abs=1e-6)
    # 30 dB: log2(1001) = 9.967 > cap 5.5547 → cap; 0 dB: 1 < cap → unchanged
    got = rate.shannon_se(np.array([30.0, 0.0]), max_se=5.5547)
    np.testing.assert_allclose(got, [5.5547, 1.0])
    with pytest.raises(ValueError, match="gap"):
        rate.shannon_se(0.0, gap_db=-1.0)


def test_cqi_table_values_exact():
    # TS 38.214 Table 5.2.2.1-2
    expected = [0.0, 0.1523, 0.2344, 0.3770, 0.6016, 0.8770, 1.1758, 1.4766, 1.9141, 2.4063,
                2.7305, 3.3223, 3.9023, 4.5234, 5.1152, 5.5547]  # fmt: skip
    np.testing.assert_array_equal(rate.CQI_SPECTRAL_EFFICIENCY, expected)
    np.testing.assert_array_equal(rate.cqi_spectral_efficiency(np.arange(16)), expected)
    # efficiency = Q_m · (code rate × 1024) / 1024, rounded to 4 decimals in the table,
    # e.g. CQI 15: 6 · 948 / 1024 = 5.5547; CQI 1: 2 · 78 / 1024 = 0.1523
    derived = rate.CQI_MODULATION_ORDER * rate.CQI_CODE_RATE_X1024 / 1024.0
    np.testing.assert_allclose(derived, expected, atol=5e-5)


def test_cqi_mapping_thresholds_and_monotone():
    snr = np.array([-20.0, -6.71, -6.7, 5.0, 5.9, 22.69, 22.7, 60.0])
    # below t1 = −6.7 → 0; at t1 → 1; 4.3 <= 5 < 5.9 → 6; 5.9 → 7; t15 = 22.7 → 15
    np.testing.assert_array_equal(rate.cqi_from_snr(snr), [0, 0, 1, 6, 7, 14, 15, 15])
    np.testing.assert_array_equal(rate.cqi_se(np.array([-20.0, 60.0])), [0.0, 5.5547])
    grid = np.linspace(-15.0, 35.0, 2001)
    cqi = rate.cqi_from_snr(grid)
    assert np.all(np.diff(cqi) >= 0) and cqi.min() == 0 and cqi.max() == 15
    assert np.all(np.diff(rate.cqi_se(grid)) >= 0)


def test_cqi_thresholds_are_a_parameter():
    shifted = rate.CQI_SNR_THRESHOLDS_DB + 1.0  # a 1 dB implementation margin
    assert int(rate.cqi_from_snr(-6.7, shifted)) == 0
    assert int(rate.cqi_from_snr(-5.7, shifted)) == 1
    with pytest.raises(ValueError, match="15 strictly increasing"):
        rate.cqi_from_snr(0.0, np.arange(14.0))


def test_harq_expected_transmissions():
    # 1 / (1 − 0.1) = 1.1111; at most 4: (1 − 0.1⁴) / 0.9 = 0.9999 / 0.9 = 1.1110
    assert float(rate.harq_expected_transmissions(0.1)) == pytest.approx(1.0 / 0.9)
    assert float(rate.harq_expected_transmissions(0.1, 4)) == pytest.approx(0.9999 / 0.9)
    assert float(rate.harq_expected_transmissions(0.1, 1)) == pytest.approx(1.0)
    # goodput = 5 / 1.1111 = 4.5 bit/s/Hz
    assert float(rate.harq_goodput_se(5.0, 0.1)) == pytest.approx(4.5)
    with pytest.raises(ValueError, match="BLER"):
        rate.harq_expected_transmissions(1.0)


def test_harq_sampler_statistics():
    rng = stream(3, Stream.CHANNEL)
    n = 100_000
    num_tx, delivered = rate.harq_sample_transmissions(rng, 0.3, n)
    # Geometric(0.7): mean 1/0.7 = 1.428571, std sqrt(0.3)/0.7 = 0.7825; 5 σ/sqrt(n) = 0.0124
    assert num_tx.mean() == pytest.approx(1.0 / 0.7, abs=0.0124)
    assert delivered.all() and num_tx.min() == 1
    num_tx, delivered = rate.harq_sample_transmissions(rng, 0.3, n, max_transmissions=2)
    # lost when both fail: 0.3² = 0.09 (binomial std 0.0009, 5σ = 0.0045)
    assert 1.0 - delivered.mean() == pytest.approx(0.09, abs=0.0045)
    assert num_tx.max() == 2
    # truncated mean (1 − 0.09) / 0.7 = 1.3
    assert num_tx.mean() == pytest.approx(1.3, abs=0.01)
    assert math.isclose(float(rate.harq_expected_transmissions(0.3, 2)), 1.3)
