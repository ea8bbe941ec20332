"""Speed benchmarks (deselected by default; run with `make bench`)."""

from __future__ import annotations

import pytest

from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.experiments.bench import QUICK_CASES, _scenario_dict
from cuhlm_sim.runner import run_scenario


@pytest.mark.benchmark
@pytest.mark.parametrize("case", QUICK_CASES, ids=lambda c: c.name)
def test_bench_quick_case(benchmark, case):
    scn = Scenario.model_validate(_scenario_dict(case, 0.1))
    out = benchmark.pedantic(run_scenario, args=(scn,), rounds=3, iterations=1)
    assert out.summary["tokens_generated"] > 0
