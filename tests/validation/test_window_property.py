"""One window rule everywhere: the fast block booking, the exact per-token path and the
per-token log classify every token the same way, over the whole space of cells.

Hypothesis draws policy (row-only or state-aware) × arrival mode (closed, Poisson requests,
Poisson tokens) × scheduler × queue discipline × truncation × per-token time distribution
(fixed, lognormal, one-sequence requests cut or not) × warm-up (including warm-ups such as
2.1 s that a commit lands on up to rounding: 0.7·3 = 2.0999999999999996, and ``auto``, whose
MSER-5 warm-up both paths must find alike). The expected values come from the exact path and
from the token log read back as a table, never from the fast path's own counters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.metrics.compute import device_table
from cuhlm_sim.metrics.window import Window

POLICIES = [
    {"kind": "hlm"},
    {"kind": "uhlm", "threshold": 0.3},
    {"kind": "cuhlm", "threshold": 0.2, "truncation_k": 30},
    {"kind": "cuhlm", "threshold": 0.1, "tv_budget": 0.5},
    {"kind": "random_skip", "threshold": 0.3},
    {"kind": "ihlm", "threshold": 0.3, "importance_source": "synthetic"},
    {"kind": "slm_only"},
    {"kind": "llm_only"},
    # Decides with the device's state, one run of skips at a time (model/state_device.py);
    # on a faded cell channel its thresholds move during the run.
    {"kind": "uhlm_adaptive", "threshold": 0.2, "threshold_slope": 0.05, "eta_ref": 4.0},
]

#: The channel of the state-aware policy: devices spread over a cell, Rayleigh block fading.
FADED_CELL = {"model": "pathloss", "fading": "rayleigh", "coherence_time_s": 0.05}


cells = st.fixed_dictionaries(
    {
        "policy": st.sampled_from(POLICIES),
        "arrival": st.sampled_from(["closed", "closed", "poisson_requests", "poisson"]),
        "slm_dist": st.sampled_from(["fixed", "lognormal"]),
        "llm_dist": st.sampled_from(["fixed", "lognormal"]),
        "scheduler": st.sampled_from(
            ["equal_share", "round_robin", "proportional_fair", "max_rate"]
        ),
        "discipline": st.sampled_from(["fifo", "priority_uncertainty", "priority_importance"]),
        "warmup_s": st.sampled_from([0.0, 2.1, 0.9, 3.3, "auto"]),
        "slm_latency_s": st.sampled_from([0.03, 0.01, 0.07, 0.7]),
        "tokens_per_request": st.sampled_from([7, 64, 500, None]),
        "think_time_s": st.sampled_from([0.0, 0.2]),
        "seed": st.integers(0, 50),
    }
)


def _scenario(c: dict) -> Scenario:
    policy = dict(c["policy"])
    if c["discipline"] == "priority_importance" and policy["kind"] != "ihlm":
        c = {**c, "discipline": "fifo"}  # needs importance scores: IU-HLM only
    channel = {"channel": FADED_CELL} if policy["kind"] == "uhlm_adaptive" else {}
    return Scenario.model_validate(
        {
            **channel,
            "seed": c["seed"],
            "warmup_s": c["warmup_s"],
            "duration_s": 4.0,
            "devices": {
                "count": 5,
                "slm_latency_s": c["slm_latency_s"],
                "slm_latency_dist": c["slm_dist"],
                **({"slm_latency_cv": 0.5} if c["slm_dist"] == "lognormal" else {}),
                "tokens_per_request": c["tokens_per_request"],
                "think_time_s": c["think_time_s"],
                "arrival": c["arrival"],
                "arrival_rate_per_s": 20.0,
                **({"request_rate_per_s": 2.0} if c["arrival"] == "poisson_requests" else {}),
            },
            "uplink": {"scheduler": c["scheduler"], "bandwidth_hz": 2e8},
            "server": {
                "discipline": c["discipline"],
                "max_batch": 4,
                "llm_latency_s": 0.02,
                "llm_latency_dist": c["llm_dist"],
            },
            "downlink": {"latency_s": 0.003},
            "policy": policy,
            "trace": {"path": None},
        }
    )


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cell=cells)
def test_fast_booking_equals_exact_path_and_log(trace, cell, both_paths):
    scn = _scenario(cell)
    fast, exact = both_paths(scn, trace)
    table_fast = device_table(fast.result)

    # The token log, as a table, with the window rule applied by hand.
    log = pd.DataFrame(exact.result.recorder.token_log())
    w0 = fast.summary["warmup_used_s"]  # `auto`: MSER-5's, the same on both paths
    w1 = w0 + scn.duration_s
    inside = log[(log["t_commit_s"] >= w0) & (log["t_commit_s"] <= w1)] if len(log) else log
    assert len(inside) == fast.summary["tokens_generated"]
    if len(inside):
        assert (inside["in_window"]).all()
        per_dev = inside.groupby("device").size().reindex(range(5), fill_value=0)
        np.testing.assert_array_equal(per_dev.to_numpy(), table_fast["tokens"])
        n_skip = int((~inside["sent"]).sum())
        assert fast.summary["skip_rate"] == pytest.approx(n_skip / len(inside), abs=1e-12)


def test_window_run_range_agrees_with_commit_times():
    """[lo, hi) from run_range = the tokens whose commit times pass the rule one by one."""
    rng = np.random.default_rng(0)
    for _ in range(3000):
        w0 = float(rng.choice([0.0, 2.1, 0.3, rng.uniform(0, 5)]))
        w = Window(w0, w0 + float(rng.choice([1.0, 2.2, rng.uniform(0, 3)])))
        tau = float(rng.choice([0.03, 0.1, 0.07, rng.uniform(1e-4, 0.5)]))
        t0 = float(rng.choice([0.0, w0 - 0.9, rng.uniform(-1, 6)]))
        count = int(rng.integers(0, 200))
        if rng.random() < 0.5:
            commits = t0 + tau * np.arange(1, count + 1)
        else:  # jittered: t0 + prefix sums of the run's drafting times
            commits = t0 + np.cumsum(tau * rng.lognormal(-0.02, 0.2, count))
        inside = np.flatnonzero((commits >= w.start) & (commits <= w.end))
        lo, hi = w.run_range(commits)
        if inside.size:
            assert (lo, hi) == (inside[0], inside[-1] + 1)
        else:
            assert hi == lo


def test_commit_a_rounding_error_below_the_warmup_is_outside():
    """0.7·3 = 2.0999999999999996 < 2.1: that token is outside, in summary and log alike."""
    w = Window(2.1, 5.0)
    assert 0.0 + 0.7 * 3 < 2.1
    assert w.run_range(Window.run_commits(0.0, 0.7, 7)) == (3, 7)  # commits 2.8, 3.5, 4.2, 4.9
