"""Queueing laws and energy accounts against closed forms."""

from __future__ import annotations

import math

import pytest


@pytest.mark.parametrize(("rho", "duration_s"), [(0.5, 3000.0), (0.8, 6000.0)])
def test_md1_mean_wait(simulate, rho, duration_s):
    """Poisson arrivals, deterministic service τ, one GPU: W_q = λ τ² / (2 (1 − ρ))."""
    tau = 0.01
    lam = rho / tau
    s = simulate(
        duration_s=duration_s,
        warmup_s=50.0,
        devices={"count": 10, "arrival": "poisson", "arrival_rate_per_s": lam / 10},
        policy={"kind": "llm_only"},
        server={"llm_latency_s": tau, "max_batch": 1},
    )
    wq = lam * tau**2 / (2 * (1 - rho))
    assert s["mean_gpu_queue_wait_s"] == pytest.approx(wq, rel=0.03)
    assert s["gpu_utilization"] == pytest.approx(rho, rel=0.01)


@pytest.mark.parametrize("kind", ["hlm", "uhlm"])
def test_littles_law_gpu_queue_and_uplink(simulate, kind):
    """L = λ W at the GPU queue (waiting jobs) and on the uplink (active transmissions)."""
    s = simulate(
        duration_s=400.0,
        devices={"count": 25, "think_time_s": 0.5, "start_spread_s": 1.0},
        policy={"kind": kind},
        payload={"vocab_size": 32_000},
        server={"max_batch": 4, "batch_per_item_s": 0.02},
    )
    assert s["mean_gpu_queue_length"] > 0.05
    assert s["mean_gpu_queue_length"] == pytest.approx(
        s["gpu_arrival_rate_per_s"] * s["mean_gpu_queue_wait_s"], rel=0.02
    )
    assert s["mean_uplink_active"] == pytest.approx(
        s["uplink_arrival_rate_per_s"] * (s["mean_airtime_s"] + s["mean_uplink_queue_s"]),
        rel=0.02,
    )


def test_energy_single_device_hand_computed(simulate):
    """One device, fixed SNR, HLM. Per token:
    E_dev = P_cmp τ + (P_tx + P_circ) B/R + P_wait (τ_llm + τ_dl);
    E_srv = P_gpu τ_llm (the GPU is busy for exactly one verification per token)."""
    tau, llm, dl, snr = 0.05, 0.1, 0.01, 10.0
    bits = 32_000 * 23
    air = bits / (10e6 * math.log2(1 + 10 ** (snr / 10)))
    e = {
        "device_compute_w": 4.0,
        "device_wait_w": 0.5,
        "tx_power_w": 0.2,
        "tx_circuit_w": 0.3,
        "gpu_busy_w": 250.0,
        "gpu_idle_w": 0.0,
    }
    s = simulate(
        duration_s=300.0,
        energy=e,
        devices={"slm_latency_s": tau},
        channel={"snr_db": snr},
        payload={"vocab_size": 32_000},
        server={"llm_latency_s": llm},
        downlink={"latency_s": dl},
        policy={"kind": "hlm"},
    )
    e_dev = 4.0 * tau + (0.2 + 0.3) * air + 0.5 * (llm + dl)
    e_srv = 250.0 * llm
    assert s["device_energy_per_token_j"] == pytest.approx(e_dev, rel=0.005)
    assert s["system_energy_per_token_j"] == pytest.approx(e_dev + e_srv, rel=0.005)


def test_skipping_saves_device_energy(simulate):
    common = {"devices": {"count": 5}, "payload": {"vocab_size": 32_000}}
    hlm = simulate(policy={"kind": "hlm"}, **common)
    uhlm = simulate(policy={"kind": "uhlm"}, **common)
    assert uhlm["device_energy_per_token_j"] < hlm["device_energy_per_token_j"]
    assert uhlm["system_energy_per_token_j"] < hlm["system_energy_per_token_j"]
