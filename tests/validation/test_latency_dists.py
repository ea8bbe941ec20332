"""Per-token and per-batch time distributions, checked against their documented definitions.

Expected values are computed here from the definitions (lognormal with mean 1 and the
configured cv, drawn from the stream (seed, component 12 or 13, device); the trace's recorded
times read with pandas), never from cuhlm_sim.model.timing.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.model.environment import Environment
from cuhlm_sim.runner import run_scenario
from tests.conftest import REAL_TRACE

SLM_S, LLM_S = 0.02, 0.05


def _scenario(slm: dict, llm: dict, **devices) -> Scenario:
    return Scenario.model_validate(
        {
            "seed": 5,
            "warmup_s": 0.0,
            "duration_s": 60.0,
            "devices": {"count": 3, "slm_latency_s": SLM_S, **slm, **devices},
            "uplink": {"bandwidth_hz": 1e12},
            "server": {"llm_latency_s": LLM_S, "max_batch": 1, "gpus": 4, **llm},
            "downlink": {"latency_s": 0.0},
            "policy": {"kind": "hlm"},
            "trace": {"path": str(REAL_TRACE)},
        }
    )


def _log(scn: Scenario) -> pd.DataFrame:
    out = run_scenario(scn, log_tokens=True)
    return pd.DataFrame(out.result.recorder.token_log())


def test_lognormal_drafting_times_are_the_devices_own_draws():
    """Device d's i-th drafted token takes SLM_S * LN(mu, sigma) from stream (5, 12, d), with
    sigma^2 = ln(1 + cv^2) and mu = -sigma^2 / 2 (mean exactly SLM_S)."""
    cv = 0.4
    log = _log(_scenario({"slm_latency_dist": "lognormal", "slm_latency_cv": cv}, {}))
    sigma = math.sqrt(math.log(1 + cv * cv))
    for d in range(3):
        mine = log[log["device"] == d].sort_values("t_start_s")["slm_s"].to_numpy()
        rng = np.random.default_rng(np.random.SeedSequence(5, spawn_key=(12, d)))
        want = SLM_S * rng.lognormal(-0.5 * sigma * sigma, sigma, mine.size)
        np.testing.assert_allclose(mine, want, rtol=1e-12)


def test_lognormal_factors_have_the_configured_mean_and_cv():
    """10^5 draws: the sample mean and cv lie within 4 standard errors of 1 and cv."""
    cv = 0.25
    sigma = math.sqrt(math.log(1 + cv * cv))
    x = np.random.default_rng(1).lognormal(-0.5 * sigma * sigma, sigma, 100_000)
    assert x.mean() == pytest.approx(1.0, abs=4 * cv / math.sqrt(x.size))
    assert x.std() / x.mean() == pytest.approx(cv, rel=0.02)


def test_trace_drafting_times_replay_the_recorded_column_rescaled():
    raw = pd.read_parquet(REAL_TRACE, columns=["t_draft_ms"])["t_draft_ms"].to_numpy(np.float64)
    log = _log(_scenario({"slm_latency_dist": "trace"}, {}))
    want = raw[log["trace_row"].to_numpy()] * SLM_S / raw.mean()
    np.testing.assert_allclose(log["slm_s"].to_numpy(), want, rtol=1e-12)


def test_trace_batch_times_are_the_mean_recorded_time_of_the_batch_rows():
    """One GPU, batches of up to 4: every batch's service time is t(b) (flat here: no per-item
    cost) times the mean recorded t_target_ms of its rows over the trace mean."""
    raw = pd.read_parquet(REAL_TRACE, columns=["t_target_ms"])["t_target_ms"].to_numpy(np.float64)
    scn = _scenario(
        {"slm_latency_dist": "fixed"},
        {"llm_latency_dist": "trace", "max_batch": 4, "gpus": 1},
        count=6,
    )
    log = _log(scn)
    sent = log[log["sent"]].copy()
    sent["gpu_start"] = sent["t_commit_s"] - sent["gpu_service_s"]
    batches = sent.groupby("gpu_start")
    assert batches.size().max() > 1  # some batches hold several rows
    want = batches["trace_row"].apply(lambda r: LLM_S * raw[r.to_numpy()].mean() / raw.mean())
    got = batches["gpu_service_s"].first()
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-9)


def test_lognormal_batch_times_have_mean_t_b_and_the_configured_spread():
    cv = 0.3
    scn = _scenario(
        {"slm_latency_dist": "fixed"}, {"llm_latency_dist": "lognormal", "llm_latency_cv": cv}
    )
    log = _log(scn)
    f = log.loc[log["sent"], "gpu_service_s"].to_numpy() / LLM_S
    assert f.size > 2000
    assert f.mean() == pytest.approx(1.0, abs=4 * cv / math.sqrt(f.size))
    assert f.std() / f.mean() == pytest.approx(cv, rel=0.1)


def test_a_trace_without_recorded_times_is_refused_before_the_run(tmp_path):
    from cuhlm_sim.errors import ScenarioError
    from cuhlm_sim.runner import check_scenario

    scn = Scenario.model_validate(
        {"devices": {"slm_latency_dist": "trace"}, "trace": {"path": None}}
    )
    with pytest.raises(ScenarioError, match=r"devices\.slm_latency_dist"):
        check_scenario(scn)


def _hlm_cell(dist: str, seed: int) -> dict:
    jitter = {"fixed": {}, "lognormal": {"slm_latency_cv": 0.25}}[dist]
    scn = Scenario.model_validate(
        {
            "seed": seed,
            "warmup_s": 10.0,
            "duration_s": 60.0,
            "devices": {
                "count": 10,
                "slm_latency_s": 0.082,
                "slm_latency_dist": dist,
                **jitter,
                "think_time_s": 0.0,
            },
            "server": {
                "llm_latency_s": 0.208,
                "llm_latency_dist": dist,
                "max_batch": 8,
                "batch_per_item_s": 0.01,
            },
            "uplink": {"bandwidth_hz": 1e9},
            "policy": {"kind": "hlm"},
            "trace": {"path": str(REAL_TRACE)},
        }
    )
    return run_scenario(scn).summary


def test_jitter_breaks_the_lock_step_of_a_fixed_time_hlm_cell():
    """The artefact of issue 12: with fixed times and equal devices, HLM devices march in
    lock-step (the same throughput for every seed, p95 latency = one value); with jittered
    times the seeds differ and the latency has a spread."""
    fixed = [_hlm_cell("fixed", s) for s in (1, 2, 3)]
    jittered = [_hlm_cell("lognormal", s) for s in (1, 2, 3)]
    assert len({s["throughput_tokens_per_s"] for s in fixed}) == 1
    assert len({s["throughput_tokens_per_s"] for s in jittered}) == 3
    j = jittered[0]
    assert j["p95_token_latency_s"] > 1.05 * j["p50_token_latency_s"]


def test_trace_times_are_one_table_for_every_device_lognormal_one_stream_each():
    """`trace` factors draw nothing: all devices share one table (a copy per device cost
    ~30 bytes per trace row and device: 1.27 GB for 2,000 devices on the shipped trace);
    lognormal factors are per device (own stream)."""

    from cuhlm_sim.config.build import build_params, load_scenario_trace
    from cuhlm_sim.metrics.recorder import Recorder
    from cuhlm_sim.model.components import build_components

    for dist, shared in (("trace", True), ("lognormal", False)):
        scn = _scenario({"slm_latency_dist": dist}, {})
        trace = load_scenario_trace(scn)
        params = build_params(scn, trace)
        parts = build_components(Environment(), params, trace, Recorder(0, 1, 3, False))
        assert (parts.slm_times(0) is parts.slm_times(1)) is shared
