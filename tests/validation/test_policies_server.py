"""IU-HLM, GPU queue disciplines, batch latency tables and per-device channels."""

from __future__ import annotations

import math

import pytest

from cuhlm_sim.config.build import section_params
from cuhlm_sim.config.schema import AffineServerConfig, IhlmPolicyConfig, TableServerConfig
from cuhlm_sim.errors import ScenarioError
from cuhlm_sim.experiments.validation.table import payload_bits, shannon_airtime
from cuhlm_sim.metrics.recorder import Recorder
from cuhlm_sim.model.environment import Environment
from cuhlm_sim.model.job import Job
from cuhlm_sim.model.params import PolicyParams
from cuhlm_sim.model.policies.ihlm import importance_scores
from cuhlm_sim.model.server import GpuServer, batch_latency_table


def _policy_params(**kw) -> PolicyParams:
    return section_params(IhlmPolicyConfig(**{"importance_source": "synthetic", **kw}))


@pytest.mark.parametrize("rule", ["and", "weighted"])
def test_ihlm_transmission_rate_matches_trace(simulate, trace, rule):
    imp = importance_scores(trace, _policy_params())
    th, ith, w = 0.081, 0.25, 0.4
    if rule == "and":
        sent = (trace.uncertainty > th) & (imp >= ith)
        rule_keys = {"importance_threshold": ith}
    else:
        sent = (1 - w) * trace.uncertainty + w * imp > th
        rule_keys = {"importance_weight": w}
    s = simulate(
        devices={"count": 30},
        uplink={"bandwidth_hz": 1e9},
        server={"max_batch": 64},
        policy={
            "kind": "ihlm",
            "threshold": th,
            "importance_rule": rule,
            **rule_keys,
            "importance_source": "synthetic",
        },
    )
    assert s["transmission_rate"] == pytest.approx(sent.mean(), abs=0.015)


def test_ihlm_without_importance_column_is_a_clear_error(simulate):
    with pytest.raises(ScenarioError, match=r"policy\.importance_source"):
        simulate(policy={"kind": "ihlm"})


def test_priority_queue_serves_highest_first():
    env = Environment()
    rec = Recorder(0.0, 100.0, 5, False)
    server = AffineServerConfig(llm_latency_s=1.0, discipline="priority_uncertainty")
    params = section_params(server, downlink_latency_s=0.0)
    srv = GpuServer(env, params, rec)
    jobs = []
    for i, prio in enumerate([0.0, 0.1, 0.9, 0.5, 0.9]):
        job = Job(i, 0, 0.0)
        job.priority = prio
        jobs.append(job)
        srv.submit([job])
    env.run()
    # job 0 starts at once; then 0.9 (job 2, earlier), 0.9 (job 4), 0.5, 0.1.
    assert [j.t_gpu_start for j in jobs] == [0.0, 4.0, 1.0, 3.0, 2.0]


def test_latency_table_interpolates_and_extrapolates():
    server = TableServerConfig(max_batch=10, latency_table=[(1, 0.02), (4, 0.03), (8, 0.05)])
    params = section_params(server, downlink_latency_s=0.0)
    t = batch_latency_table(params)
    assert t[1] == pytest.approx(0.02)
    assert t[2] == pytest.approx(0.02 + 0.01 / 3)
    assert t[6] == pytest.approx(0.04)
    assert t[10] == pytest.approx(0.06)  # slope 0.005 / item beyond the table


def test_saturated_batching_with_latency_table(simulate):
    table = [[1, 0.02], [4, 0.03], [8, 0.05]]
    s = simulate(
        devices={"count": 200},
        uplink={"bandwidth_hz": 1e12},
        server={"max_batch": 8, "latency_model": "table", "latency_table": table},
        policy={"kind": "hlm"},
    )
    assert s["throughput_tokens_per_s"] == pytest.approx(8 / 0.05, rel=0.01)


@pytest.mark.parametrize("snr_db", [0.0, 20.0])
def test_per_device_snr_list_sets_airtime(simulate, snr_db):
    """A device's listed SNR sets its airtime: B / (W log2(1 + SNR))."""
    bits = payload_bits(32_000)
    s = simulate(
        channel={"model": "per_device", "snr_db_list": [snr_db], "snr_db": -40.0},
        payload={"vocab_size": 32_000},
        policy={"kind": "hlm"},
    )
    eta = math.log2(1 + 10 ** (snr_db / 10))
    assert s["mean_spectral_efficiency_bps_hz"] == pytest.approx(eta)
    assert s["mean_airtime_s"] == pytest.approx(shannon_airtime(bits, 10e6, snr_db), rel=1e-6)


def test_snr_list_length_must_match_devices(simulate):
    with pytest.raises(ScenarioError, match=r"channel\.snr_db_list: needs one SNR per device"):
        simulate(devices={"count": 3}, channel={"model": "per_device", "snr_db_list": [1.0]})


def test_per_device_spread_is_reproducible(simulate):
    kw = {
        "devices": {"count": 20},
        "channel": {"model": "per_device", "spread": "uniform", "spread_db": 10.0},
    }
    a, b = simulate(**kw), simulate(**kw)
    assert a["mean_spectral_efficiency_bps_hz"] == b["mean_spectral_efficiency_bps_hz"]
    flat = simulate(devices={"count": 20})
    assert a["mean_spectral_efficiency_bps_hz"] != flat["mean_spectral_efficiency_bps_hz"]


@pytest.mark.parametrize("profile", ["qwen_coder_1_5b_cpu", "llama2_7b_a100"])
def test_server_profile_single_device_latency(simulate, profile):
    """A profile's t(1) is the verification time of a lone device: llm_only gives 1 / t(1)."""
    from cuhlm_sim.config.profiles import PROFILES

    t1 = PROFILES[profile].table[0][1]
    s = simulate(policy={"kind": "llm_only"}, server={"profile": profile}, duration_s=100.0)
    assert s["throughput_tokens_per_s"] == pytest.approx(1 / t1, rel=0.01)


def test_server_profile_conflicts_with_explicit_latency(simulate):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="llm_latency_s is only for latency_model 'affine'"):
        simulate(server={"profile": "llama2_7b_a100", "llm_latency_s": 0.1})
