"""Little's law across a long warm-up: the level integrals must start at the warm-up end.

If they counted from t = 0 while arrivals and waits count from the warm-up, the mean GPU queue
length would be off by the warm-up share (44 % too high with a 30 s warm-up in a 68 s run).
Expected values: L = λ·W (Little) and λ_GPU = throughput × transmission rate (flow balance),
both from other summary keys measured independently of the level integral.
"""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("policy", [{"kind": "hlm"}, {"kind": "uhlm", "threshold": 0.2}])
def test_gpu_queue_obeys_little_after_a_30s_warmup(simulate, policy):
    s = simulate(
        warmup_s=30.0,
        duration_s=38.0,
        devices={"count": 24, "slm_latency_s": 0.02, "tokens_per_request": 400},
        uplink={"bandwidth_hz": 1e10},
        server={"llm_latency_s": 0.03, "max_batch": 4, "batch_per_item_s": 0.004},
        policy=policy,
    )
    lam = s["gpu_arrival_rate_per_s"]
    assert s["mean_gpu_queue_wait_s"] > 0.005  # a real queue, not an empty one
    assert s["mean_gpu_queue_length"] == pytest.approx(lam * s["mean_gpu_queue_wait_s"], rel=0.02)
    assert lam == pytest.approx(s["throughput_tokens_per_s"] * s["transmission_rate"], rel=0.02)
