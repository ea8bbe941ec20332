"""The checks of issue 12 for jittered times and requests, against closed forms.

- one HLM device with lognormal times keeps the cycle time's mean: throughput =
  1 / (E[tau_slm] + B/R + E[t_llm] + tau_dl);
- a saturated GPU with jittered service verifies gpus / E[t] tokens per second;
- HLM in the default scenario differs between seeds (no lock-step);
- Poisson requests on an idle system: a request's latency is the sum of its tokens' times.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cuhlm_sim.config.load import load_scenario
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.runner import run_scenario

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_single_hlm_device_with_lognormal_times_keeps_the_mean_cycle():
    """Dense payload of |V| = 1000 entries x 8 bit = 8000 bit at 17 dB over 10 MHz:
    B/R = 8000 / (1e7 log2(1 + 10^1.7)); cycle = 0.05 + B/R + 0.1 + 0.005 s."""
    scn = Scenario.model_validate(
        {
            "seed": 4,
            "warmup_s": 10.0,
            "duration_s": 3000.0,
            "devices": {
                "count": 1,
                "slm_latency_s": 0.05,
                "slm_latency_dist": "lognormal",
                "slm_latency_cv": 0.5,
            },
            "channel": {"model": "fixed", "snr_db": 17.0},
            "uplink": {"bandwidth_hz": 1e7},
            "server": {
                "llm_latency_s": 0.1,
                "llm_latency_dist": "lognormal",
                "llm_latency_cv": 0.5,
                "max_batch": 1,
            },
            "downlink": {"latency_s": 0.005},
            "payload": {"encoding": "dense", "prob_bits": 8, "vocab_size": 1000},
            "policy": {"kind": "hlm"},
            "trace": {"path": None},
        }
    )
    airtime = 8000 / (1e7 * math.log2(1 + 10**1.7))
    cycle = 0.05 + airtime + 0.1 + 0.005
    s = run_scenario(scn).summary
    assert s["throughput_tokens_per_s"] == pytest.approx(1 / cycle, rel=0.01)


def test_saturated_gpu_with_jittered_service_verifies_gpus_over_mean_time():
    scn = Scenario.model_validate(
        {
            "seed": 1,
            "warmup_s": 20.0,
            "duration_s": 2000.0,
            "devices": {"count": 30, "slm_latency_s": 0.01},
            "uplink": {"bandwidth_hz": 1e12},
            "server": {
                "gpus": 2,
                "llm_latency_s": 0.05,
                "llm_latency_dist": "lognormal",
                "llm_latency_cv": 0.3,
                "max_batch": 1,
            },
            "policy": {"kind": "hlm"},
            "trace": {"path": None},
        }
    )
    s = run_scenario(scn).summary
    assert s["gpu_utilization"] > 0.999
    assert s["throughput_tokens_per_s"] == pytest.approx(2 / 0.05, rel=0.02)


def test_hlm_in_the_default_scenario_differs_between_seeds():
    runs = [
        run_scenario(
            load_scenario(
                ROOT / "scenarios" / "default.yaml",
                ["policy.kind=hlm", "duration_s=120", "warmup_s=10"],
                seed=seed,
            )
        ).summary
        for seed in (1, 2)
    ]
    assert runs[0]["throughput_tokens_per_s"] != runs[1]["throughput_tokens_per_s"]
    assert runs[0]["p95_token_latency_s"] > runs[0]["p50_token_latency_s"]


def test_poisson_requests_on_an_idle_system_take_the_sum_of_their_token_times():
    """One device, requests of 20 tokens at 0.01/s (each takes ~2 s, so with seed 3 none
    arrives while another is served): every request's latency equals the sum over its tokens
    of commit - start (a token starts when the previous one is final)."""
    scn = Scenario.model_validate(
        {
            "seed": 3,
            "warmup_s": 0.0,
            "duration_s": 3000.0,
            "devices": {
                "count": 1,
                "slm_latency_s": 0.02,
                "tokens_per_request": 20,
                "arrival": "poisson_requests",
                "request_rate_per_s": 0.01,
            },
            "server": {"llm_latency_s": 0.05},
            "downlink": {"latency_s": 0.002},
            "policy": {"kind": "uhlm", "threshold": 0.2},
            "trace": {"path": None},
        }
    )
    out = run_scenario(scn, log_tokens=True)
    log = pd.DataFrame(out.result.recorder.token_log()).sort_values("t_start_s")
    sums = (log["t_commit_s"] - log["t_start_s"]).to_numpy()
    n = out.summary["requests_completed"]
    assert n >= 20
    per_request = sums[: 20 * n].reshape(n, 20).sum(axis=1)
    latencies, _ = out.result.recorder.request_latency.weighted()
    np.testing.assert_allclose(latencies, per_request, rtol=1e-9)
