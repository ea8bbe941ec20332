"""Steady state (docs/metrics.md): ``warmup_s: auto`` is MSER-5 on the pilot's verified-token
latencies, ``steady_state`` needs 10 requests per device and an end of the transient, and the
request metrics (throughput, time per output token) against hand counts and the token log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.runner import run_scenario


def brute_mser5(y: np.ndarray) -> tuple[int, int]:
    """(d*, ⌊b/2⌋) of MSER-5 from its definition: batch means of 5, every tail's variance
    computed afresh, the first minimum over the first half."""
    b = len(y) // 5
    z = np.array([y[5 * j : 5 * j + 5].sum() / 5 for j in range(b)])
    stats = [((z[d:] - z[d:].mean()) ** 2).sum() / (b - d) ** 2 for d in range(b // 2 + 1)]
    return int(np.argmin(stats)), b // 2


def verified_series(log: dict) -> pd.DataFrame:
    """The token log's transmitted tokens in commit order, with their latencies."""
    df = pd.DataFrame(log)
    df = df[df["sent"]].sort_values("t_commit_s", kind="stable")
    return df.assign(latency=df["t_commit_s"] - df["t_start_s"]).reset_index(drop=True)


def scenario(**kw) -> Scenario:
    """Fixed per-token times (the hand counts below assume them)."""
    data = {"trace": {"path": None}, "duration_s": 40.0, **kw}
    data["devices"] = {"slm_latency_dist": "fixed", **data.get("devices", {})}
    data["server"] = {"llm_latency_dist": "fixed", **data.get("server", {})}
    return Scenario.model_validate(data)


#: 12 U-HLM devices that start together on a GPU that one token at a time keeps busy: the
#: first verifications queue behind each other (a transient), then the cell settles.
TRANSIENT = {
    "seed": 2,
    "devices": {"count": 12, "slm_latency_s": 0.05, "tokens_per_request": 8},
    "uplink": {"bandwidth_hz": 1e12},
    "server": {"max_batch": 1, "llm_latency_s": 0.01},
    "policy": {"kind": "uhlm", "threshold": 0.3},
}


def test_numeric_warmup_is_used_as_given(trace):
    s = run_scenario(scenario(warmup_s=3.7, **TRANSIENT), trace=trace).summary
    assert s["warmup_used_s"] == 3.7
    assert s["window_s"] == [3.7, 3.7 + 40.0]


def test_auto_warmup_is_mser5_of_the_pilot_token_log(trace, both_paths):
    """The warm-up found = commit time of the first kept value of MSER-5 run by hand on the
    warm-up-free run's token log; the auto run then equals a run with that number."""
    pilot = run_scenario(scenario(warmup_s=0.0, **TRANSIENT), trace=trace, log_tokens=True)
    series = verified_series(pilot.result.recorder.token_log())
    d, half = brute_mser5(series["latency"].to_numpy())
    assert 0 < d < 0.9 * half  # a transient, and its end found
    expected = float(series["t_commit_s"].iloc[5 * d])

    auto, _ = both_paths(scenario(warmup_s="auto", **TRANSIENT), trace)
    assert auto.summary["warmup_used_s"] == expected
    assert auto.summary["window_s"] == [expected, expected + 40.0]
    same = run_scenario(scenario(warmup_s=expected, **TRANSIENT), trace=trace).summary
    for s in (auto.summary, same):
        s.pop("wall_time_s", None)  # (both_paths took it off the auto run)
    assert auto.summary == same
    assert same["steady_state"] is True


def test_auto_without_a_transient_keeps_the_pilot(trace):
    """SLM-only: every latency is τ, nothing is cut; the pilot is the run (window [0, D])."""
    s = run_scenario(
        scenario(warmup_s="auto", policy={"kind": "slm_only"}, devices={"count": 2}),
        trace=trace,
    ).summary
    assert s["warmup_used_s"] == 0.0
    assert s["window_s"] == [0.0, 40.0]


@pytest.mark.parametrize(("duration", "per_device"), [(4.8, 9), (5.2, 10)])
def test_steady_state_needs_ten_requests_per_device(trace, duration, per_device):
    """SLM-only, τ = 0.05 s, 10 tokens a request: a device ends a request every 0.5 s, at
    0.5, 1.0, ...; in [0, 4.8] that is 9 per device (not steady), in [0, 5.2] 10 (steady)."""
    s = run_scenario(
        scenario(
            warmup_s=0.0,
            duration_s=duration,
            policy={"kind": "slm_only"},
            devices={"count": 2, "slm_latency_s": 0.05, "tokens_per_request": 10},
        ),
        trace=trace,
    ).summary
    assert s["requests_completed"] == 2 * per_device
    assert s["request_throughput_per_s"] == pytest.approx(2 * per_device / duration, rel=1e-12)
    assert s["steady_state"] is (per_device >= 10)


def test_no_end_of_the_transient_means_no_steady_state(trace):
    """Devices keep joining all through the window (start spread 2x the run) on a GPU that
    saturates at 6: latency still climbs at the end. Plenty of requests (>= 300), but MSER-5
    by hand on the token log puts its minimum at the end of the searched half."""
    scn = scenario(
        seed=0,
        warmup_s=0.0,
        devices={
            "count": 30,
            "slm_latency_s": 0.05,
            "tokens_per_request": 2,
            "start_spread_s": 80.0,
        },
        uplink={"bandwidth_hz": 1e12},
        server={"max_batch": 1, "llm_latency_s": 0.01},
        policy={"kind": "hlm"},
    )
    out = run_scenario(scn, trace=trace, log_tokens=True)
    d, half = brute_mser5(verified_series(out.result.recorder.token_log())["latency"].to_numpy())
    assert d >= 0.9 * half
    assert out.summary["requests_completed"] >= 10 * 30
    assert out.summary["steady_state"] is False


def test_tpot_of_a_deterministic_request_by_hand(trace):
    """One HLM device, every stage fixed: the first token commits one cycle after the request
    starts and the n − 1 others one cycle apart, so TPOT = (n·c − c)/(n − 1) = c."""
    tau, llm, dl, n = 0.05, 0.03, 0.004, 12
    s = run_scenario(
        scenario(
            warmup_s=0.0,
            duration_s=30.0,
            devices={"count": 1, "slm_latency_s": tau, "tokens_per_request": n},
            uplink={"bandwidth_hz": 1e15},
            server={"llm_latency_s": llm, "max_batch": 1},
            downlink={"latency_s": dl},
            policy={"kind": "hlm"},
        ),
        trace=trace,
    ).summary
    assert s["p95_tpot_s"] == pytest.approx(tau + llm + dl, rel=1e-6)  # airtime ≈ 1e-9 s


@pytest.mark.parametrize(
    "policy",
    [{"kind": "uhlm", "threshold": 0.3}, {"kind": "llm_only"}, {"kind": "uhlm_adaptive"}],
)
def test_tpot_quantile_equals_the_token_log(trace, policy):
    """TPOT per request from the raw token log: device d's k-th token belongs to request
    ⌊k / n⌋; (last commit − first commit) / (n − 1) over requests ending in the window; the
    inverted-CDF 0.95-quantile is p95_tpot_s. Skipped first tokens and verified ones both occur."""
    n = 9
    scn = scenario(
        warmup_s=2.0,
        duration_s=20.0,
        policy=policy,
        **{k: v for k, v in TRANSIENT.items() if k not in ("policy", "devices")},
        devices={"count": 6, "slm_latency_s": 0.05, "tokens_per_request": n, "think_time_s": 0.3},
    )
    out = run_scenario(scn, trace=trace, log_tokens=True)
    log = pd.DataFrame(out.result.recorder.token_log()).sort_values(
        ["device", "t_commit_s"], kind="stable"
    )
    log["request"] = log.groupby("device").cumcount() // n
    req = log.groupby(["device", "request"]).agg(
        first=("t_commit_s", "first"), last=("t_commit_s", "last"), tokens=("t_commit_s", "size")
    )
    done = req[(req["tokens"] == n) & (req["last"] >= 2.0) & (req["last"] <= 22.0)]
    assert len(done) == out.summary["requests_completed"] > 20
    tpot = (done["last"] - done["first"]) / (n - 1)
    assert out.summary["p95_tpot_s"] == pytest.approx(
        float(np.quantile(tpot, 0.95, method="inverted_cdf")), rel=1e-12
    )
    if policy["kind"] == "uhlm":
        first_sent = log.groupby(["device", "request"])["sent"].first()
        assert first_sent.any() and not first_sent.all()


@pytest.mark.parametrize(
    "policy",
    [{"kind": "uhlm", "threshold": 0.3}, {"kind": "llm_only"}, {"kind": "uhlm_adaptive"}],
)
def test_the_warmup_does_not_change_the_trajectory(trace, policy):
    """`auto` rests on this: the pilot (window [0, D]) and the run with a warm-up w (window
    [w, w + D]) replay the same tokens at the same times up to D, so the pilot's cut is a
    cut of the run that is measured."""
    kw = {**TRANSIENT, "policy": policy, "duration_s": 6.0}
    if policy["kind"] == "uhlm_adaptive":
        kw["channel"] = {"model": "pathloss", "fading": "rayleigh", "coherence_time_s": 0.05}
    logs = []
    for warmup in (0.0, 2.345):
        out = run_scenario(scenario(warmup_s=warmup, **kw), trace=trace, log_tokens=True)
        df = pd.DataFrame(out.result.recorder.token_log()).drop(columns="in_window")
        logs.append(df[df["t_commit_s"] <= 6.0].reset_index(drop=True))
    assert len(logs[0]) > 500
    pd.testing.assert_frame_equal(logs[0], logs[1])
