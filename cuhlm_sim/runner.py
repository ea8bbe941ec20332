"""One scenario run end to end, as a library call: load the trace, simulate, summarise.

The CLI, sweeps and benchmarks all go through :func:`run_scenario`, so they measure the same
thing. This is where the model meets the metrics: :func:`simulate` hands the engine the metrics
recorder (the model knows only its interface, :class:`cuhlm_sim.model.recording.Recorder`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cuhlm_sim.config.build import (
    build_params,
    load_scenario_trace,
    replayed_trace,
    scenario_trace_rows,
)
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.memory import MemoryEstimate, check_fits, estimate_run, estimate_setup
from cuhlm_sim.metrics.accuracy import run_accuracy
from cuhlm_sim.metrics.compute import summarize
from cuhlm_sim.metrics.recorder import Recorder
from cuhlm_sim.metrics.steady import Truncation
from cuhlm_sim.model import engine
from cuhlm_sim.model.environment import Environment
from cuhlm_sim.model.params import SimParams
from cuhlm_sim.model.policies.ihlm import importance_source_used
from cuhlm_sim.model.recording import RunResult
from cuhlm_sim.traces.arrays import TraceArrays
from cuhlm_sim.traces.resample import prompt_counts


@dataclass
class RunOutput:
    scenario: Scenario
    trace: TraceArrays
    result: RunResult[Recorder]
    summary: dict[str, Any]
    wall_time_s: float


def _recorder(params: SimParams) -> Recorder:
    return Recorder(params.warmup_s, params.end_s, params.devices.count, params.log_tokens)


def _trace_field(scenario: Scenario) -> str:
    return "trace.path" if scenario.trace.path is not None else "trace.synth_rows"


def _load_trace_checked(scenario: Scenario) -> TraceArrays:
    """The scenario's trace, unless its rows and the devices cannot fit in memory (refused
    before anything is loaded or built)."""
    rows = scenario_trace_rows(scenario)
    check_fits(estimate_setup(scenario.devices.count, rows, _trace_field(scenario)))
    return load_scenario_trace(scenario)


def check_scenario(scenario: Scenario, *, log_tokens: bool = False) -> MemoryEstimate:
    """Everything a run would reject, without simulating: trace file, columns, value ranges,
    every component built as a run builds it (policy, channel, uplink, GPU server), so
    settings that depend on the trace (e.g. truncation_k in its k_grid) fail here too, and a
    run too large for the machine's memory. Returns the run's memory estimate."""

    from cuhlm_sim.model.components import build_components

    trace = _load_trace_checked(scenario)
    estimate = _run_estimate(scenario, trace, log_tokens)
    check_fits(estimate)
    params = build_params(scenario, trace, log_tokens=log_tokens)
    build_components(Environment(), params, trace, _recorder(params))
    return estimate


def _run_estimate(scenario: Scenario, trace: TraceArrays, log_tokens: bool) -> MemoryEstimate:
    """The run's memory; with ``warmup_s: auto`` for the longest run the detection can ask
    for (a warm-up cut inside the pilot, so at most ``duration_s``)."""
    warmup = scenario.duration_s if scenario.warmup_s == "auto" else None
    params = build_params(scenario, trace, log_tokens=log_tokens, warmup_s=warmup)
    return estimate_run(params, trace.num_rows, _trace_field(scenario))


def simulate(
    params: SimParams,
    trace: TraceArrays,
    *,
    count_events: bool = False,
    progress: Callable[[float, float], None] | None = None,
) -> RunResult[Recorder]:
    """Run the model on ``params`` and ``trace`` with a fresh metrics recorder."""
    return engine.simulate(
        params, trace, _recorder(params), count_events=count_events, progress=progress
    )


def _auto_warmup(
    scenario: Scenario,
    trace: TraceArrays,
    log_tokens: bool,
    count_events: bool,
    progress: Callable[[float, float], None] | None = None,
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
        progress=progress,
    )
    series = pilot.recorder.latency_series
    cut = series.truncation()
    warmup = series.truncation_time(cut)
    if warmup <= 0:
        return pilot, cut
    params = build_params(scenario, trace, log_tokens=log_tokens, warmup_s=warmup)
    return simulate(params, trace, count_events=count_events, progress=progress), cut


def run_scenario(
    scenario: Scenario,
    *,
    trace: TraceArrays | None = None,
    log_tokens: bool = False,
    count_events: bool = False,
    progress: Callable[[float, float], None] | None = None,
    check_memory: bool = True,
    replay: Callable[[Scenario, TraceArrays], TraceArrays] = replayed_trace,
) -> RunOutput:
    """Simulate ``scenario``; pass ``trace`` to reuse one already loaded (the prompt
    bootstrap, when on, draws from it without changing it). With ``warmup_s: auto`` this is
    two runs of the same seed (see :func:`_auto_warmup`); ``wall_time_s`` covers both. The
    returned scenario has ``trace.resample_prompts`` resolved (null = off) and the returned
    trace is the one replayed.

    With ``check_memory`` a run whose estimated memory (:mod:`cuhlm_sim.memory`) exceeds
    what the machine has available is refused before the trace or the devices are built.
    ``progress(simulated_s, end_s)`` is called as each run advances (results do not
    change). ``replay(scenario, trace)`` makes the replayed trace (:func:`replayed_trace`;
    sweeps pass one that keeps each seed's prompt draw, which depends on nothing else)."""
    if trace is None:
        trace = _load_trace_checked(scenario) if check_memory else load_scenario_trace(scenario)
    resample = scenario.trace.resample_prompts is True
    scenario = scenario.model_copy(
        update={"trace": scenario.trace.model_copy(update={"resample_prompts": resample})}
    )
    trace = replay(scenario, trace)
    if check_memory:
        check_fits(_run_estimate(scenario, trace, log_tokens))
    t0 = time.perf_counter()
    if scenario.warmup_s == "auto":
        result, cut = _auto_warmup(scenario, trace, log_tokens, count_events, progress)
    else:
        params = build_params(scenario, trace, log_tokens=log_tokens)
        result = simulate(params, trace, count_events=count_events, progress=progress)
        cut = None
    summary = summarize(result, cut)
    summary.update(run_accuracy(scenario, trace))
    summary["importance_source"] = importance_source_used(
        scenario.policy.kind, scenario.server.discipline, scenario.policy.importance_source
    )
    summary["trace_prompt_counts"] = prompt_counts(trace)
    wall = time.perf_counter() - t0
    summary["wall_time_s"] = wall
    return RunOutput(scenario, trace, result, summary, wall)
