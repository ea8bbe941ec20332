"""A policy that reads the device's state: ``uhlm_adaptive`` adapts to each device's channel,
equals U-HLM where the channel gives no reason to differ, and the state it sees is the device's
own, fresh at each decision."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from cuhlm_sim.config.build import build_params, load_scenario_trace
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.metrics.compute import device_table
from cuhlm_sim.model.channel_state import build_channel, rate_map
from cuhlm_sim.model.device_state import DeviceState
from cuhlm_sim.model.job import Job
from cuhlm_sim.model.params import EnergyParams
from cuhlm_sim.model.policies import POLICIES
from cuhlm_sim.model.policies.adaptive import UhlmAdaptivePolicy
from cuhlm_sim.model.uplink import Radio
from cuhlm_sim.runner import run_scenario, simulate

#: The rule's constants in these tests: u_th(eta) = clip(0.081 + 0.04*(5.69 - eta), 0, 0.43).
RULE = {"threshold": 0.081, "eta_ref": 5.69, "threshold_slope": 0.04}


def _scenario(
    tiny_trace: Path,
    channel: dict[str, Any],
    policy: dict[str, Any],
    devices: int = 2,
    tokens_per_request: int = 200,
    dist: str = "fixed",
) -> Scenario:
    return Scenario.model_validate(
        {
            "seed": 3,
            "warmup_s": 1.0,
            "duration_s": 40.0,
            "devices": {
                "count": devices,
                "slm_latency_s": 0.01,
                "slm_latency_dist": dist,
                "tokens_per_request": tokens_per_request,
            },
            "channel": channel,
            "uplink": {"bandwidth_hz": 2e7},
            "server": {"llm_latency_s": 0.02, "llm_latency_dist": dist, "max_batch": 4},
            "downlink": {"latency_s": 0.001},
            "policy": policy,
            "trace": {"path": str(tiny_trace)},
        }
    )


def test_the_poor_channel_device_skips_more_by_the_amount_its_threshold_says(tiny_trace):
    """Device 0 at 0 dB, device 1 at 20 dB (Shannon, no gap). By hand, with K = 20 draws:
    eta = log2(1 + 1) = 1 -> u_th = 0.081 + 0.04*4.69 = 0.2686 -> skip iff u_count <= 5;
    eta = log2(101) = 6.658 -> u_th = 0.0423 -> skip iff u_count <= 0."""
    scn = _scenario(
        tiny_trace,
        {"model": "per_device", "snr_db_list": [0.0, 20.0]},
        {"kind": "uhlm_adaptive", **RULE},
    )
    assert load_scenario_trace(scn).u_draws == 20
    rows = pd.read_parquet(tiny_trace, columns=["u_count"])
    limit = {0: 5, 1: 0}  # device -> largest u_count it skips
    assert math.floor((0.081 + 0.04 * (5.69 - 1.0)) * 20) == limit[0]
    assert math.floor((0.081 + 0.04 * (5.69 - math.log2(101.0))) * 20) == limit[1]

    fast = run_scenario(scn)
    logged = run_scenario(scn, log_tokens=True)
    table = device_table(fast.result)
    skip_rate = 1.0 - table["transmissions"] / table["tokens"]

    # Token by token: every in-window token was skipped exactly when its row's u_count is at
    # or below its device's limit.
    log = pd.DataFrame(logged.result.recorder.token_log())
    log = log[log["in_window"]].join(rows, on="trace_row")
    expect_skip = log["u_count"] <= log["device"].map(limit)
    pd.testing.assert_series_equal(~log["sent"], expect_skip, check_names=False)
    by_hand = expect_skip.groupby(log["device"]).mean()
    np.testing.assert_allclose(skip_rate, by_hand.to_numpy(), rtol=0, atol=1e-12)

    # The amount: the two limits' skip shares over the whole trace, within replay noise.
    whole = [float((rows["u_count"] <= limit[d]).mean()) for d in (0, 1)]
    assert whole[0] - whole[1] > 0.15  # the rule makes a real difference on this trace
    assert skip_rate[0] - skip_rate[1] == pytest.approx(whole[0] - whole[1], abs=0.03)


def test_at_equal_snrs_it_is_uhlm_at_the_matching_threshold(tiny_one_sequence):
    """At a fixed 3 dB, eta = log2(1 + 10^0.3) = 1.5827 and u_th = 0.081 + 0.04*(5.69 - eta) =
    0.2453 for every device and every decision: the same run as U-HLM at 0.2453, key for key
    (the trace share at policy.threshold aside: it reads the key, 0.081 here). Requests of
    1,500 tokens cross the row-only path's 1,024-row blocks, which the state path must keep."""
    eta = math.log2(1.0 + 10**0.3)
    u_th = 0.081 + 0.04 * (5.69 - eta)
    channel = {"model": "fixed", "snr_db": 3.0}
    adaptive, uhlm = (
        run_scenario(
            _scenario(tiny_one_sequence, channel, policy, devices=4, tokens_per_request=1500)
        )
        for policy in ({"kind": "uhlm_adaptive", **RULE}, {"kind": "uhlm", "threshold": u_th})
    )
    assert 0.1 < adaptive.summary["skip_rate"] < 0.99
    for key in ("wall_time_s", "trace_skip_fraction"):
        adaptive.summary.pop(key), uhlm.summary.pop(key)
    assert adaptive.summary == uhlm.summary
    a, u = device_table(adaptive.result), device_table(uhlm.result)
    for col in a:
        np.testing.assert_array_equal(a[col], u[col], err_msg=col)


class _Spy(UhlmAdaptivePolicy):
    """uhlm_adaptive that writes down what it saw and was asked at each decision."""

    seen: ClassVar[list[dict[str, Any]]] = []

    def transmit(self, rows, rng, state=None):
        self.seen.append(
            {
                "device": state.index,
                "now": state.now,
                "eta": state.eta,
                "snr_db": state.snr_db,
                "queue": state.gpu_queue_length,
                "energy_j": state.energy_j,
                "drafted": state.tokens_drafted,
                "asked": len(rows),
            }
        )
        return super().transmit(rows, rng, state)


@pytest.fixture
def spy():
    """run(scenario) -> (params, one row per transmit call of a spying uhlm_adaptive)."""
    POLICIES.add("state_spy", _Spy)

    def run(scn: Scenario):
        _Spy.seen = []
        trace = load_scenario_trace(scn)
        params = build_params(scn, trace)
        policy = dataclasses.replace(params.policy, kind="state_spy")
        simulate(dataclasses.replace(params, policy=policy), trace)
        return params, pd.DataFrame(_Spy.seen)

    yield run
    del POLICIES._entries["state_spy"]


def test_each_decision_sees_its_own_device_now(tiny_trace, spy):
    """On a faded cell channel the view reads the channel of the decision's instant and device
    (checked against the channel itself), a busy GPU's queue, and energy that only grows."""
    scn = _scenario(
        tiny_trace,
        {"model": "pathloss", "fading": "rayleigh", "coherence_time_s": 0.05},
        {"kind": "uhlm_adaptive", **RULE},
        devices=6,
    )
    params, seen = spy(scn)
    assert seen["device"].nunique() == 6 and len(seen) > 500

    channel = build_channel(params.channel, 6, params.uplink.bandwidth_hz, params.seed)
    rate = rate_map(params.channel)
    sample = seen.sample(200, random_state=0).sort_values("now")  # fading is read forwards
    for dev, now, eta, snr in sample[["device", "now", "eta", "snr_db"]].itertuples(index=False):
        # the channel's value in force at `now` (a change exactly at `now` may not have been
        # applied yet: then the previous block's value)
        truth = {float(channel.snr_db(now)[dev]), float(channel.snr_db(np.nextafter(now, 0))[dev])}
        assert snr in truth
        assert eta == pytest.approx(float(rate(np.array([snr]))[0]), rel=1e-12)
    assert seen["snr_db"].groupby(seen["device"]).nunique().min() > 1  # fading moved it
    assert seen["queue"].max() > 0
    for _, g in seen.groupby("device"):
        assert (np.diff(g["now"]) >= 0).all() and (np.diff(g["energy_j"]) >= 0).all()
        assert g["energy_j"].iloc[-1] > 0


def test_with_jittered_times_it_is_uhlm_up_to_float_rounding(tiny_one_sequence):
    """The same pair with lognormal times: each row keeps its drafting time on both paths (the
    draws do not depend on how the rows are cut into blocks), so every count is equal and
    every time agrees to float rounding (the prefix sums restart at the state path's shorter
    blocks)."""
    eta = math.log2(1.0 + 10**0.3)
    u_th = 0.081 + 0.04 * (5.69 - eta)
    channel = {"model": "fixed", "snr_db": 3.0}
    adaptive, uhlm = (
        run_scenario(
            _scenario(
                tiny_one_sequence,
                channel,
                policy,
                devices=4,
                tokens_per_request=1500,
                dist="lognormal",
            )
        )
        for policy in ({"kind": "uhlm_adaptive", **RULE}, {"kind": "uhlm", "threshold": u_th})
    )
    for key in ("tokens_generated", "requests_completed", "batch_size_counts", "skip_rate"):
        assert adaptive.summary[key] == uhlm.summary[key], key
    for key in ("mean_token_latency_s", "p95_token_latency_s", "gpu_utilization"):
        assert adaptive.summary[key] == pytest.approx(uhlm.summary[key], rel=1e-9), key


def test_decisions_stay_inside_the_row_only_blocks(tiny_one_sequence, spy):
    """Requests of 1,500 rows are blocks [0, 1024) and [1024, 1500) on the row-only path; no
    decision of the state path reaches across them (what keeps the two runs identical: the
    same skip runs, hence the same float expressions for every draft time)."""
    scn = _scenario(
        tiny_one_sequence,
        {"model": "fixed", "snr_db": 3.0},
        {"kind": "uhlm_adaptive", **RULE},
        tokens_per_request=1500,
    )
    scn = Scenario.model_validate(
        {**scn.model_dump(), "uplink": {"bandwidth_hz": 2e8}}  # fast enough to pass row 1024
    )
    _, seen = spy(scn)
    # The calls of one decision are consecutive (same device, same drafted count); the first
    # asks from the device's offset in its request, each next one where the previous stopped.
    same = seen["device"].eq(seen["device"].shift()) & seen["drafted"].eq(seen["drafted"].shift())
    decision = (~same).cumsum()
    asked_before = seen.groupby(decision)["asked"].cumsum() - seen["asked"]
    seen["first"] = seen["drafted"] % 1500 + asked_before
    end = seen["first"] + seen["asked"]
    before = seen["first"] < 1024
    assert (end[before] <= 1024).all() and (end <= 1500).all()
    assert seen.loc[seen["first"] == 1024, "device"].nunique() == 2  # both reached row 1024


def test_energy_is_the_summary_device_energy_of_what_the_device_did():
    """drafted tokens at P_compute·τ, radiated and circuit time, waiting at P_wait."""
    e = EnergyParams(
        device_compute_w=5.0,
        device_wait_w=0.5,
        tx_power_w=0.2,
        tx_circuit_w=0.1,
        gpu_busy_w=0.0,
        gpu_idle_w=0.0,
    )

    class _Env:
        now = 7.5

    class _Server:
        queue_length = 3

    radio = Radio(np.array([0.0, 10.0]), np.array([1.0, 3.46]), lambda s: s)
    state = DeviceState(_Env(), 1, radio, _Server(), e, token_time_s=0.02)
    state.drafted(10)
    job = Job(1, 0, 1e5)
    job.t_ul_arrive, job.t_ul_end, job.t_gpu_arrive, job.t_commit = 1.0, 1.3, 1.3, 1.6
    job.tx_air_s, job.radiated_s = 0.25, 0.1
    state.verified(job)
    assert (state.now, state.eta, state.snr_db, state.gpu_queue_length) == (7.5, 3.46, 10.0, 3)
    wait = 0.3 + 0.3  # uplink queue + airtime, then GPU queue + GPU + downlink
    expected = 5.0 * 0.02 * 10 + 0.2 * 0.1 + 0.1 * 0.25 + 0.5 * (wait - 0.25)
    assert state.energy_j == pytest.approx(expected, rel=1e-12)
    assert state.tokens_drafted == 10
