"""Request latency (first draft of a request to the commit of its last token), closed form."""

from __future__ import annotations

import pytest


def test_request_latency_closed_form(simulate):
    """One HLM device with deterministic stages: a request of n tokens takes n·cycle, and
    requests complete back to back (think time T: one every n·cycle + T)."""
    tau, llm, dl, n = 0.05, 0.03, 0.004, 12
    cycle = tau + llm + dl  # no payload bits on a huge band: airtime ≈ 0
    for think in (0.0, 0.5):
        s = simulate(
            warmup_s=0.0,
            duration_s=60.0,
            devices={
                "count": 1,
                "slm_latency_s": tau,
                "tokens_per_request": n,
                "think_time_s": think,
            },
            uplink={"bandwidth_hz": 1e15},
            server={"llm_latency_s": llm, "max_batch": 1},
            downlink={"latency_s": dl},
            policy={"kind": "hlm"},
        )
        assert s["mean_request_latency_s"] == pytest.approx(n * cycle, rel=1e-4)
        assert s["p95_request_latency_s"] == pytest.approx(n * cycle, rel=1e-4)
        # Request j (1-based) ends at j·n·cycle + (j − 1)·T.
        assert s["requests_completed"] == int((60.0 + think) // (n * cycle + think))


def test_request_latency_includes_trailing_skips(simulate):
    """SLM-only: every token is skipped, so a request of n tokens takes exactly n·τ, all of it
    a trailing skip run (a request's end is its last token's commit, not the last event)."""
    tau, n = 0.05, 12
    s = simulate(
        warmup_s=0.0,
        duration_s=30.0,
        devices={"count": 2, "slm_latency_s": tau, "tokens_per_request": n},
        policy={"kind": "slm_only"},
    )
    assert s["mean_request_latency_s"] == pytest.approx(n * tau, rel=1e-9)
    assert s["p95_request_latency_s"] == pytest.approx(n * tau, rel=1e-9)
    assert s["requests_completed"] == 2 * int(30.0 // (n * tau) + 1e-9)


def test_a_verified_token_committing_exactly_at_the_end_counts(simulate):
    """LLM-only, one device, 0.5 s per token, window [0, 10]: commits at 0.5, 1.0, ..., 10.0 —
    all 20 inside (both edges in), like the SLM-only skips at the same instants."""
    kw = {
        "warmup_s": 0.0,
        "duration_s": 10.0,
        "devices": {"count": 1, "slm_latency_s": 0.5, "tokens_per_request": 1000},
        "server": {"llm_latency_s": 0.5, "max_batch": 1},
        "downlink": {"latency_s": 0.0},
    }
    assert simulate(policy={"kind": "llm_only"}, **kw)["tokens_generated"] == 20
    assert simulate(policy={"kind": "slm_only"}, **kw)["tokens_generated"] == 20
