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
from cuhlm_sim.metrics.steady import Truncation
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


def _auto_warmup(
    scenario: Scenario, trace: TraceArrays, log_tokens: bool, count_events: bool
) -> tuple[RunResult[Recorder], Truncation]:
    """``warmup_s: auto``: a pilot run with the window [0, duration_s] gives the series of
    verified-token latencies; MSER-5 cuts it; the run is repeated with that warm-up.

    The model never reads the window (it only books against it), so the same seed gives the
    same trajectory whatever the warm-up: the second run is the pilot's, measured over
    [warm-up, warm-up + duration_s]. When nothing is cut the pilot is that run, and is used.
    """
    pilot = simulate(
        build_params(scenario, trace, log_tokens=log_tokens, warmup_s=0.0),
        trace,
        count_events=count_events,
    )
    series = pilot.recorder.latency_series
    cut = series.truncation()
    warmup = series.truncation_time(cut)
    if warmup <= 0:
        return pilot, cut
    params = build_params(scenario, trace, log_tokens=log_tokens, warmup_s=warmup)
    return simulate(params, trace, count_events=count_events), cut


def run_scenario(
    scenario: Scenario,
    *,
    trace: TraceArrays | None = None,
    log_tokens: bool = False,
    count_events: bool = False,
) -> RunOutput:
    """Simulate ``scenario``; pass ``trace`` to reuse one already loaded. With
    ``warmup_s: auto`` this is two runs of the same seed (see :func:`_auto_warmup`);
    ``wall_time_s`` covers both."""
    if trace is None:
        trace = load_scenario_trace(scenario)
    t0 = time.perf_counter()
    if scenario.warmup_s == "auto":
        result, cut = _auto_warmup(scenario, trace, log_tokens, count_events)
    else:
        params = build_params(scenario, trace, log_tokens=log_tokens)
        result, cut = simulate(params, trace, count_events=count_events), None
    summary = summarize(result, cut)
    summary.update(run_accuracy(scenario, trace))
    summary["importance_source"] = importance_source_used(
        scenario.policy.kind, scenario.server.discipline, scenario.policy.importance_source
    )
    wall = time.perf_counter() - t0
    summary["wall_time_s"] = wall
    return RunOutput(scenario, trace, result, summary, wall)
