"""Shared block plans (model/blocks.py): a run decides each replayed block once, all its
devices reuse the plan, and sharing changes no result."""

from __future__ import annotations

import numpy as np
import pytest

from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.model import engine
from cuhlm_sim.model.blocks import BlockPlan
from cuhlm_sim.runner import run_scenario
from cuhlm_sim.traces.synth import SynthParams, synth_arrays


@pytest.fixture(scope="module")
def trace():
    """8 sequences of 256 rows: every device replays each of them several times."""
    return synth_arrays(SynthParams(num_rows=2048), seed=1)


def _scenario(kind: str, **policy) -> Scenario:
    return Scenario.model_validate(
        {
            "seed": 3,
            "warmup_s": 5.0,
            "duration_s": 120.0,
            "trace": {"path": None},
            "devices": {
                "count": 12,
                "slm_latency_dist": "lognormal",
                "slm_latency_cv": 0.3,
                "tokens_per_request": 64,
            },
            "server": {"max_batch": 4},
            "policy": {"kind": kind, **policy},
        }
    )


def _summary(scn: Scenario, trace, **kw) -> dict:
    s = run_scenario(scn, trace=trace, **kw).summary
    s.pop("wall_time_s")
    return s


def _count_decisions(monkeypatch) -> list[tuple[int, int]]:
    made: list[tuple[int, int]] = []
    real = BlockPlan.decide.__func__

    def counted(cls, start, rows, tx, *args):
        made.append((start, rows.shape[0]))
        return real(cls, start, rows, tx, *args)

    monkeypatch.setattr(BlockPlan, "decide", classmethod(counted))
    return made


@pytest.mark.parametrize(
    ("kind", "policy"),
    [("uhlm", {"threshold": 0.081}), ("hlm", {}), ("cuhlm", {"threshold": 0.081})],
)
def test_shared_plans_give_the_results_of_deciding_every_block_afresh(
    trace, monkeypatch, kind, policy
):
    scn = _scenario(kind, **policy)
    shared = _summary(scn, trace)
    made = _count_decisions(monkeypatch)
    monkeypatch.setattr(engine, "BlockPlans", lambda: None)  # every device decides alone
    alone = _summary(scn, trace)
    assert shared == alone
    # Deciding alone, the devices decided the same blocks many times over.
    assert len(made) > 2 * len(set(made)) > 0


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("uhlm", {"log_tokens": True}),  # the exact path books every token from the plan
        ("ihlm", {"discipline": "priority_importance"}),  # plans carry the queue priorities
    ],
)
def test_shared_plans_on_the_exact_path_and_with_priorities(trace, monkeypatch, kind, extra):
    log = extra.get("log_tokens", False)
    data = _scenario(kind, threshold=0.081).model_dump()
    data["policy"]["importance_source"] = "synthetic" if kind == "ihlm" else "trace"
    if "discipline" in extra:
        data["server"]["discipline"] = extra["discipline"]
    scn = Scenario.model_validate(data)
    shared = run_scenario(scn, trace=trace, log_tokens=log)
    monkeypatch.setattr(engine, "BlockPlans", lambda: None)
    alone = run_scenario(scn, trace=trace, log_tokens=log)
    for out in (shared, alone):
        out.summary.pop("wall_time_s")
    assert shared.summary == alone.summary
    if log:
        a, b = shared.result.recorder.token_log(), alone.result.recorder.token_log()
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_each_block_is_decided_once_per_run(trace, monkeypatch):
    made = _count_decisions(monkeypatch)
    s = _summary(_scenario("uhlm", threshold=0.081), trace)
    assert len(made) == len(set(made))
    # ... while the devices started far more blocks than that (a block per request here).
    assert s["requests_completed"] > 2 * len(made)


def test_a_policy_that_draws_decides_every_block_afresh(trace, monkeypatch):
    made = _count_decisions(monkeypatch)
    _summary(_scenario("random_skip", skip_probability=0.5), trace)
    assert len(made) > 2 * len(set(made))
