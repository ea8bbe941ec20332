"""One scenario run end to end, as a library call: load the trace, simulate, summarise.

The CLI, sweeps and benchmarks all go through :func:`run_scenario`, so they measure the same
thing. This is where the model meets the metrics: :func:`simulate` hands the engine the metrics
recorder (the model knows only its interface, :class:`cuhlm_sim.model.recording.Recorder`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cuhlm_sim.config.build import build_params, load_scenario_trace
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.metrics.accuracy import run_accuracy
from cuhlm_sim.metrics.compute import summarize
from cuhlm_sim.metrics.recorder import Recorder
from cuhlm_sim.model import engine
from cuhlm_sim.model.params import SimParams
from cuhlm_sim.model.policies.ihlm import importance_source_used
from cuhlm_sim.model.recording import RunResult
from cuhlm_sim.traces.arrays import TraceArrays


@dataclass
class RunOutput:
    scenario: Scenario
    trace: TraceArrays
    result: RunResult[Recorder]
    summary: dict[str, Any]
    wall_time_s: float


def _recorder(params: SimParams) -> Recorder:
    return Recorder(params.warmup_s, params.end_s, params.devices.count, params.log_tokens)


def check_scenario(scenario: Scenario) -> TraceArrays:
    """Everything a run would reject, without simulating: trace file, columns, value ranges,
    and every component built as a run builds it (policy, channel, uplink, GPU server), so
    settings that depend on the trace (e.g. truncation_k in its k_grid) fail here too."""
    import simpy

    from cuhlm_sim.model.components import build_components

    trace = load_scenario_trace(scenario)
    params = build_params(scenario, trace)
    build_components(simpy.Environment(), params, trace, _recorder(params))
    return trace


def simulate(
    params: SimParams, trace: TraceArrays, *, count_events: bool = False
) -> RunResult[Recorder]:
    """Run the model on ``params`` and ``trace`` with a fresh metrics recorder."""
    return engine.simulate(params, trace, _recorder(params), count_events=count_events)


def run_scenario(
    scenario: Scenario,
    *,
    trace: TraceArrays | None = None,
    log_tokens: bool = False,
    count_events: bool = False,
) -> RunOutput:
    """Simulate ``scenario``; pass ``trace`` to reuse one already loaded."""
    if trace is None:
        trace = load_scenario_trace(scenario)
    params = build_params(scenario, trace, log_tokens=log_tokens)
    t0 = time.perf_counter()
    result = simulate(params, trace, count_events=count_events)
    summary = summarize(result)
    summary.update(run_accuracy(scenario, trace))
    summary["importance_source"] = importance_source_used(
        scenario.policy.kind, scenario.server.discipline, scenario.policy.importance_source
    )
    wall = time.perf_counter() - t0
    summary["wall_time_s"] = wall
    return RunOutput(scenario, trace, result, summary, wall)
