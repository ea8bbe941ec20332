"""Slotted uplink schedulers: RB arithmetic, fairness and max C/I, against hand figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cuhlm_sim.config.build import section_params
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.metrics.compute import device_table
from cuhlm_sim.model.params import SlottedUplinkParams
from cuhlm_sim.model.uplink.slotted import (
    MaxRateScheduler,
    ProportionalFairScheduler,
    RoundRobinScheduler,
    greedy_fill,
)


def _params(**kw) -> SlottedUplinkParams:
    """10 MHz, numerology 0; proportional fair when a window is given."""
    kind = "proportional_fair" if "pf_window_slots" in kw else "round_robin"
    uplink = {"bandwidth_hz": 10e6, "scheduler": kind, **kw}
    return section_params(Scenario.model_validate({"uplink": uplink}).uplink)


def test_greedy_fill():
    rbs = greedy_fill(np.array([2, 0, 1]), np.array([5, 4, 3]), 10)
    assert rbs.tolist() == [5, 2, 3]  # device 2 first (3), then 0 (5), then 1 gets the last 2


def test_round_robin_water_fills():
    rr = RoundRobinScheduler(4, _params())
    rbs = rr.allocate(0, np.array([0, 1, 2]), np.array([1, 10, 10]), np.ones(3), 11)
    assert rbs.tolist() == [1, 5, 5]
    # 3 RBs for 4 hungry devices: the leftover RBs rotate with the slot index.
    a = rr.allocate(0, np.arange(4), np.full(4, 9), np.ones(4), 3)
    b = rr.allocate(1, np.arange(4), np.full(4, 9), np.ones(4), 3)
    assert a.sum() == b.sum() == 3 and a.tolist() != b.tolist()


def test_max_rate_serves_best_first():
    mr = MaxRateScheduler(3, _params())
    rbs = mr.allocate(0, np.array([0, 1, 2]), np.array([50, 50, 50]), np.array([1.0, 3.0, 2.0]), 52)
    assert rbs.tolist() == [0, 50, 2]


def test_pf_discounted_throughput_update():
    """T_t = beta T_{t-1} + (1 - beta) r_t, here over three slots by hand."""
    pf = ProportionalFairScheduler(2, _params(pf_window_slots=10.0))  # beta = 0.9
    pf.served(0, np.array([0]), np.array([100.0]))
    pf.served(1, np.array([1]), np.array([50.0]))
    pf.served(2, np.array([0]), np.array([100.0]))
    t = pf.average_throughput()
    t0 = ((0.9 * 1e-9 + 10.0) * 0.9 * 0.9) + 10.0
    t1 = (0.9 * 0.9 * 1e-9 + 5.0) * 0.9
    assert t == pytest.approx([t0, t1], rel=1e-9)


def _per_device_bits(simulate, scheduler, snrs, devices=None, **kw):
    out = simulate(
        _output=True,
        devices={"count": len(snrs), "slm_latency_s": 0.001, **(devices or {})},
        channel={"model": "per_device", "snr_db_list": snrs},
        uplink={"scheduler": scheduler, "bandwidth_hz": 5e6},
        payload={"vocab_size": 32_000},
        server={"gpus": len(snrs), "llm_latency_s": 0.001},
        policy={"kind": "hlm"},
        **{"duration_s": 30.0, "warmup_s": 2.0, **kw},
    )
    s = dict(out.summary)
    s["device_rb_share"] = device_table(out.result)["rb_share"].tolist()
    return s


@pytest.mark.parametrize("scheduler", ["round_robin", "proportional_fair"])
def test_identical_channels_equal_shares(simulate, scheduler):
    s = _per_device_bits(simulate, scheduler, [10.0] * 6)
    assert s["uplink_utilization"] > 0.95
    assert s["jain_fairness"] == pytest.approx(1.0, abs=0.01)
    assert s["rb_jain_fairness"] == pytest.approx(1.0, abs=0.01)


def test_rr_and_pf_agree_on_identical_channels(simulate):
    rr = _per_device_bits(simulate, "round_robin", [10.0] * 6)
    pf = _per_device_bits(simulate, "proportional_fair", [10.0] * 6)
    assert pf["throughput_tokens_per_s"] == pytest.approx(rr["throughput_tokens_per_s"], rel=0.02)


def test_max_rate_serves_only_best_device_under_full_load(simulate):
    """Every device always backlogged, one payload needs many slots: max C/I starves the rest."""
    snrs = [0.0, 5.0, 20.0, 10.0]
    # Open arrivals well above the link capacity keep every device backlogged.
    full_load = {"arrival": "poisson", "arrival_rate_per_s": 200.0}
    s = _per_device_bits(simulate, "max_rate", snrs, devices=full_load, duration_s=5.0)
    shares = s["device_rb_share"]
    # The others only get the RBs left over in the last slot of each of its payloads:
    # at most one partial slot per 23-slot payload (5 MHz, 20 dB, 736 kbit).
    assert shares[2] > 1 - 1 / 23
    assert sum(shares) == pytest.approx(1.0)


def test_pf_gives_full_buffer_devices_equal_rb_shares(simulate):
    """No fading, every device always backlogged, SNRs 0/5/20/10 dB. PF serves the largest
    η_n/T_n; with T_n = share_n · η_n · (bits per RB per unit η) the metric is
    1/(share_n · const), so PF settles where all shares are equal: 1/4 each, whatever η_n.
    (Max C/I on the same cell gives all RBs to the 20 dB device: test above.)"""
    snrs = [0.0, 5.0, 20.0, 10.0]
    full_load = {"arrival": "poisson", "arrival_rate_per_s": 200.0}
    s = _per_device_bits(simulate, "proportional_fair", snrs, devices=full_load, duration_s=5.0)
    assert s["device_rb_share"] == pytest.approx([0.25] * 4, abs=0.05)
    assert sum(s["device_rb_share"]) == pytest.approx(1.0)


def test_slotted_single_device_throughput(simulate):
    """One device alone: a payload of B bits takes ceil(B / (N_RB·B_RB·T_s·η)) slots, plus
    the wait for the next slot boundary after drafting."""
    bits, snr, w = 32_000 * 23, 10.0, 5e6
    eta = math.log2(1 + 10 ** (snr / 10))
    n_rb = int(w // 180e3)
    per_slot = n_rb * 180e3 * 1e-3 * eta
    slots = math.ceil(bits / per_slot)
    tau, llm = 0.0205, 0.0103  # so the draft ends mid-slot: +0.5 ms alignment
    s = simulate(
        devices={"slm_latency_s": tau},
        channel={"snr_db": snr},
        uplink={"scheduler": "round_robin", "bandwidth_hz": w},
        payload={"vocab_size": 32_000},
        server={"llm_latency_s": llm},
        policy={"kind": "hlm"},
        duration_s=100.0,
    )
    assert s["mean_airtime_s"] == pytest.approx(slots * 1e-3, rel=1e-6)
    cycle = s["mean_token_latency_s"]
    assert s["throughput_tokens_per_s"] == pytest.approx(1 / cycle, rel=0.01)
    assert cycle == pytest.approx(tau + s["mean_uplink_queue_s"] + slots * 1e-3 + llm, rel=1e-6)
    assert 0 <= s["mean_uplink_queue_s"] < 1e-3
