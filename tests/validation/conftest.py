"""Fixtures for the closed-form validations: one synthetic trace, a scenario factory."""

from __future__ import annotations

from typing import Any

import pytest

from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.runner import run_scenario
from cuhlm_sim.traces.arrays import TraceArrays
from cuhlm_sim.traces.synth import SynthParams, synth_arrays


@pytest.fixture(scope="session")
def trace() -> TraceArrays:
    return synth_arrays(SynthParams(num_rows=20_000), seed=1)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out.get(k, {}), v) if isinstance(v, dict) else v
    return out


@pytest.fixture
def simulate(trace):
    """simulate(**sections) -> summary dict, for a scenario built from the given sections."""

    def _run(_output: bool = False, **sections: Any) -> Any:
        base = {"warmup_s": 5.0, "duration_s": 200.0, "trace": {"path": None}}
        scn = Scenario.model_validate(_merge(base, sections))
        out = run_scenario(scn, trace=trace, count_events=True)
        return out if _output else out.summary

    return _run
