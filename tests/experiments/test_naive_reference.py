"""The naive references simulate the same cells as our model: same throughput, skip rate and
mean token latency within the statistical noise, on small cases of each bench kind (U-HLM and
HLM, unbatched with a Resource and batched with per-GPU server processes, real trace)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from cuhlm_sim.config.build import load_scenario_trace
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.experiments.naive import NaiveUnsupported, batch_time, run_naive
from cuhlm_sim.runner import run_scenario
from tests.conftest import REAL_TRACE

METRICS = {
    "throughput_tokens_per_s": "throughput_tokens_per_s",
    "skip_rate": "skip_rate",
    "mean_token_latency_s": "mean_token_latency_s",
}

#: (name, policy, max_batch, extra devices keys, extra server keys); times are fixed and the
#: channel is 17 dB for every device unless the case says otherwise
CASES: list[tuple[str, str, int, dict[str, Any], dict[str, Any]]] = (
    [
        ("uhlm_unbatched", "uhlm", 1, {}, {}),
        ("hlm_unbatched", "hlm", 1, {}, {}),
        ("uhlm_batched", "uhlm", 8, {}, {}),
        ("hlm_batched", "hlm", 8, {}, {}),
    ]
    + [
        (
            f"{kind}_batched_{dist}",
            kind,
            8,
            {"slm_latency_dist": dist, **({"slm_latency_cv": 0.2} if dist == "lognormal" else {})},
            {"llm_latency_dist": dist, **({"llm_latency_cv": 0.2} if dist == "lognormal" else {})},
        )
        for kind in ("uhlm", "hlm")
        for dist in ("lognormal", "trace")
    ]
    + [("uhlm_batched_lognormal_snr_spread", "uhlm", 8, {"slm_latency_dist": "lognormal"}, {})]
)
#: cases whose devices get SNRs ~ U(17 +- 6 dB), one draw per device (per_device channel)
SPREAD = {"uhlm_batched_lognormal_snr_spread"}


def _scenario(
    seed: int, policy: str, max_batch: int, devices: dict, server: dict, spread: bool = False
) -> Scenario:
    channel = {"model": "per_device", "spread": "uniform", "spread_db": 6.0} if spread else {}
    return Scenario.model_validate(
        {
            "channel": channel,
            "seed": seed,
            "warmup_s": 1.0,
            "duration_s": 10.0,
            "devices": {
                "count": 40,
                "slm_latency_s": 0.0173,
                "start_spread_s": 0.0173,
                "tokens_per_request": 64,
                "think_time_s": 0.3,
                "slm_latency_dist": "fixed",
                **devices,
            },
            "uplink": {"bandwidth_hz": 100e6},
            "payload": {"vocab_size": 32000},
            "server": {
                "gpus": 3,
                "llm_latency_s": 0.0317,
                "max_batch": max_batch,
                "batch_per_item_s": 0.003,
                "llm_latency_dist": "fixed",
                **server,
            },
            "downlink": {"latency_s": 0.002},
            "policy": {"kind": policy, "threshold": 0.2},
            "trace": {"path": str(REAL_TRACE)},
        }
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_reference_and_model_agree_within_noise(case):
    """Six seeds, both models on each. The seed fixes the scenario's own draws in both (trace
    offsets, start times, think times), so the comparison is paired: per seed d = ours - naive.
    Tolerance: |mean d| <= t * sd(d) / sqrt(R) with t the Student-t(R - 1) quantile for a
    two-sided false failure of 1e-4 per metric (t = 9.68 at R = 6), plus 1e-9 relative for
    float rounding. With fixed times the two are the same deterministic cell, d = 0 up to
    rounding, and any difference fails; with jittered times (drawn from independent streams)
    d is noise of mean 0 if the models agree."""
    name, policy, max_batch, devices, server = case
    seeds = range(6)
    ours, naive = {m: [] for m in METRICS}, {m: [] for m in METRICS}
    for seed in seeds:
        scn = _scenario(seed, policy, max_batch, devices, server, name in SPREAD)
        trace = load_scenario_trace(scn)
        s = run_scenario(scn, trace=trace).summary
        n = run_naive(scn, trace)
        assert s["tokens_generated"] > 500 and n["tokens"] > 500
        for m, key in METRICS.items():
            ours[m].append(s[m])
            naive[m].append(n[key])
    r = len(seeds)
    t_crit = stats.t.ppf(1 - 0.5e-4, r - 1)
    for m in METRICS:
        a, b = np.array(ours[m]), np.array(naive[m])
        d = a - b
        tol = t_crit * d.std(ddof=1) / math.sqrt(r) + 1e-9 * abs(a.mean())
        assert abs(d.mean()) <= tol, (m, a, b)
        if not devices and not server:
            # Fixed times: both are deterministic functions of the same seed draws, so they
            # coincide except where two events of one instant run in another order (a batch
            # split differently: seen on 1 seed of 24); the median tolerates 2 such seeds of 6.
            assert np.median(np.abs(d)) <= 1e-9 * abs(a.mean()), (m, a, b)
    # the skip rate is that of the trace's rows: ~the U-HLM share, 0 for HLM
    assert (np.array(naive["skip_rate"]) > 0.1).all() == (policy == "uhlm")


def test_the_reference_batches_like_the_model():
    """A saturated batching GPU: both models serve max_batch jobs per t(max_batch), so the
    verified-token throughput is gpus * max_batch / t(max_batch) (closed form)."""
    scn = _scenario(0, "hlm", 4, {"count": 60, "think_time_s": 0.0}, {"gpus": 1})
    scn = scn.model_copy(update={"uplink": scn.uplink.model_copy(update={"bandwidth_hz": 1e12})})
    trace = load_scenario_trace(scn)
    n = run_naive(scn, trace)
    bound = 4 / batch_time(scn, 4)
    assert n["throughput_tokens_per_s"] == pytest.approx(bound, rel=0.02)
    s = run_scenario(scn, trace=trace).summary
    assert s["throughput_tokens_per_s"] == pytest.approx(bound, rel=0.02)


def test_what_the_reference_does_not_model_is_an_error():
    scn = _scenario(0, "cuhlm", 1, {}, {})
    with pytest.raises(NaiveUnsupported, match="policy cuhlm"):
        run_naive(scn, load_scenario_trace(scn))
