"""Fixtures for the closed-form validations: one synthetic trace, a scenario factory."""

from __future__ import annotations

from typing import Any

import numpy as np
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
        # Fixed per-token times: the closed forms are for the deterministic cell (the jitter
        # has tests of its own, test_latency_dists.py).
        base = {
            "warmup_s": 5.0,
            "duration_s": 200.0,
            "trace": {"path": None},
            "devices": {"slm_latency_dist": "fixed"},
            "server": {"llm_latency_dist": "fixed"},
        }
        scn = Scenario.model_validate(_merge(base, sections))
        out = run_scenario(scn, trace=trace, count_events=True)
        return out if _output else out.summary

    return _run


def _flat(d: dict, prefix: str = "") -> dict:
    """Nested summary → {"a.b": value}, lists and None kept as they are."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                out[f"{prefix}{k}.{i}"] = x
        else:
            out[f"{prefix}{k}"] = v
    return out


@pytest.fixture(scope="session")
def both_paths():
    """both_paths(scn, trace) -> (fast, exact): the run with block booking and with the exact
    per-token path (``log_tokens``), after checking that they agree on every summary metric
    and every device column."""
    from cuhlm_sim.metrics.compute import device_table

    def _run(scn: Scenario, trace: TraceArrays):
        fast = run_scenario(scn, trace=trace)
        exact = run_scenario(scn, trace=trace, log_tokens=True)
        fast.summary.pop("wall_time_s"), exact.summary.pop("wall_time_s")
        got, want = _flat(fast.summary), _flat(exact.summary)
        assert got.keys() == want.keys()
        for key, value in want.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
            else:
                assert got[key] == value, key
        table_fast, table_exact = device_table(fast.result), device_table(exact.result)
        for col, values in table_fast.items():
            np.testing.assert_allclose(values, table_exact[col], rtol=1e-9, err_msg=col)
        return fast, exact

    return _run
