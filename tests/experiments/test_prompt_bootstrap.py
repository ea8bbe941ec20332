"""Sweeps and capacity searches turn the prompt bootstrap on unless told otherwise, and it
widens a point's interval by the closed-form variance of the prompt draw."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats

from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.experiments.capacity import find_capacity, parse_slo
from cuhlm_sim.experiments.results import points_frame
from cuhlm_sim.experiments.sweep import (
    RunStore,
    SweepSpec,
    load_sweep,
    plan_sweep,
    run_tasks,
    runs_frame,
)
from tests.conftest import REAL_TRACE
from tests.experiments.conftest import TINY


def _flags(plan) -> set:
    return {t.config["trace"]["resample_prompts"] for t in plan.tasks}


def test_sweep_turns_the_bootstrap_on_by_default(write_sweep):
    plan = load_sweep(write_sweep(grid={"devices.count": [1, 2]}, repetitions=2))
    assert _flags(plan) == {True}


def test_sweep_set_or_axis_or_scenario_overrides_the_default(write_sweep, tmp_path):
    off = load_sweep(write_sweep(set={"trace.resample_prompts": False}, repetitions=2))
    assert _flags(off) == {False}
    both = load_sweep(write_sweep(grid={"trace.resample_prompts": [True, False]}))
    assert [t.config["trace"]["resample_prompts"] for t in both.tasks] == [True, False]
    base = {**TINY, "trace": {**TINY["trace"], "resample_prompts": False}}
    plan = plan_sweep(SweepSpec(repetitions=2), base, "x")
    assert _flags(plan) == {False}


def test_capacity_turns_the_bootstrap_on_by_default_and_keeps_an_explicit_off():
    slos = [parse_slo("gpu_utilization<=1.0")]
    for given, want in ((None, True), (False, False)):
        base = Scenario.model_validate(
            {**TINY, "trace": {**TINY["trace"], "resample_prompts": given}}
        )
        store = RunStore(None)
        find_capacity(base, slos, repetitions=1, max_devices=2, store=store)
        configs = [r["config"] for r in store._memory.values()]
        assert configs and {c["trace"]["resample_prompts"] for c in configs} == {want}


def _closed_form_var(threshold: float) -> float:
    """Delta-method variance of the replayed trace's skip fraction under the stratified
    prompt draw: sum_k n_k var_k(S - r L) / L^2 (S, L: a prompt's skipped rows and rows)."""
    raw = pd.read_parquet(REAL_TRACE, columns=["prompt_id", "kind", "u_count"])
    per = raw.assign(skip=raw["u_count"] <= math.floor(threshold * 20 + 1e-9)).groupby("prompt_id")
    p = pd.DataFrame({"S": per["skip"].sum(), "L": per.size(), "kind": per["kind"].first()})
    p["Z"] = p["S"] - p["S"].sum() / p["L"].sum() * p["L"]
    k = p.groupby("kind")
    return float((k.size() * k["Z"].var(ddof=0)).sum() / p["L"].sum() ** 2)


def test_bootstrap_widens_the_interval_of_the_skip_rate():
    """Ten repetitions of a U-HLM cell whose devices replay about one pass of the trace each:
    without the bootstrap the skip rate varies only with the rows the devices happen to replay;
    with it, also with the prompts drawn.

    Expected: var_on = var_prompts (closed form from pandas) + var_off. The check that the
    sample variance of 10 runs is within the chi-square(9) 0.1 %-99.9 % band of var_on
    (0.13x-3.3x) is robust to any seed; so is ci_on > 1.5 ci_off (the measured ratio is ~4:
    var_on/var_off ~ 20, and an F(9, 9) draw below its 0.1 % quantile (1/6.5) would still
    leave a sd ratio of 1.77)."""
    threshold = 0.081
    base = {
        "seed": 0,
        "warmup_s": 0.0,
        "duration_s": 20.0,
        "devices": {"count": 2, "slm_latency_s": 0.001},
        "uplink": {"bandwidth_hz": 1e10},
        "server": {"llm_latency_s": 0.001, "max_batch": 8},
        "policy": {"kind": "uhlm", "threshold": threshold},
        "trace": {"path": str(REAL_TRACE)},
    }
    reps = 10
    out = {}
    for on in (True, False):
        spec = SweepSpec.model_validate(
            {"repetitions": reps, "set": {"trace.resample_prompts": on}}
        )
        plan = plan_sweep(spec, base, "test")
        runs = runs_frame(plan, run_tasks(plan.tasks, RunStore(None)))
        assert (runs["status"] == "ok").all()
        out[on] = points_frame(runs, plan.axes).iloc[0]
    assert out[True]["skip_rate_ci95"] > 1.5 * out[False]["skip_rate_ci95"]
    var_on = out[True]["skip_rate_std"] ** 2
    expected = _closed_form_var(threshold) + out[False]["skip_rate_std"] ** 2
    lo, hi = (stats.chi2.ppf(q, reps - 1) / (reps - 1) for q in (0.001, 0.999))
    assert lo * expected < var_on < hi * expected, (var_on, expected)
    # the skip fraction of the replayed trace alone carries the prompt variance
    assert out[False]["trace_skip_fraction_std"] == pytest.approx(0.0, abs=1e-12)
    assert out[True]["trace_skip_fraction_std"] > 0
