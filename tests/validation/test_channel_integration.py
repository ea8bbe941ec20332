"""The pathloss channel model inside a run, against a hand-computed link budget."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cuhlm_sim.metrics.compute import device_table

C = 299_792_458.0


def test_log_distance_link_budget_sets_snr_and_airtime(simulate):
    """Devices on a ring at d = 100 m, log-distance n = 3, no shadowing or fading:
    SNR = P_tx − [FSPL(1 m) + 30 log10(d)] − (−174 + 10 log10 W + NF)."""
    fspl_1m = 20 * math.log10(4 * math.pi * 1.0 * 3.5e9 / C)
    noise_dbm = -174 + 10 * math.log10(10e6) + 5.0
    snr = 23.0 - (fspl_1m + 30 * math.log10(100.0)) - noise_dbm
    out = simulate(
        _output=True,
        devices={"count": 4},
        channel={
            "model": "pathloss",
            "pathloss_model": "log_distance",
            "pathloss_exponent": 3.0,
            "cell_radius_m": 100.0,
            "min_distance_m": 99.9999,
            "shadowing": False,
            "tx_power_dbm": 23.0,
            "noise_figure_db": 5.0,
        },
        payload={"vocab_size": 32_000},
        policy={"kind": "hlm"},
    )
    table = device_table(out.result)
    np.testing.assert_allclose(table["snr_db"], snr, atol=1e-3)
    eta = math.log2(1 + 10 ** (snr / 10))
    assert out.summary["mean_spectral_efficiency_bps_hz"] == pytest.approx(eta, rel=1e-4)


@pytest.mark.parametrize("scheduler", ["equal_share", "proportional_fair"])
def test_fading_and_mobility_run_and_are_reproducible(simulate, scheduler):
    kw = {
        "devices": {"count": 12},
        "duration_s": 20.0,
        "channel": {
            "model": "pathloss",
            "fading": "rayleigh",
            "mobility": "random_waypoint",
            "coherence_time_s": 0.02,
        },
        "uplink": {"scheduler": scheduler},
        "payload": {"vocab_size": 32_000},
    }
    a, b = simulate(**kw), simulate(**kw)
    a.pop("wall_time_s"), b.pop("wall_time_s")
    assert a == b
    assert a["tokens_generated"] > 0


def test_cqi_rate_model_caps_at_table_top(simulate):
    s = simulate(channel={"snr_db": 40.0, "rate_model": "cqi"})
    assert s["mean_spectral_efficiency_bps_hz"] == pytest.approx(5.5547)
    low = simulate(
        channel={
            "snr_db": 40.0,
            "rate_model": "shannon",
            "snr_gap_db": 3.0,
            "max_spectral_efficiency": 6.0,
        }
    )
    assert low["mean_spectral_efficiency_bps_hz"] == pytest.approx(6.0)


def test_harq_bler_scales_goodput(simulate):
    s = simulate(channel={"snr_db": 10.0, "harq_bler": 0.1})
    assert s["mean_spectral_efficiency_bps_hz"] == pytest.approx(0.9 * math.log2(11.0))
