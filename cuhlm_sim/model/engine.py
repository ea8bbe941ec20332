"""Wire one cell together and run it.

``simulate(params, trace, recorder)`` builds the devices, the uplink and the GPU server from
frozen parameters and a loaded trace, runs SimPy up to warm-up + duration while they report to
``recorder``, and returns a :class:`~cuhlm_sim.model.recording.RunResult` holding that recorder
(everything measured inside the window) and the channel state at the end.
"""

from __future__ import annotations

import gc
import logging
import math
from collections.abc import Callable

import numpy as np

from cuhlm_sim.model.blocks import BlockPlans
from cuhlm_sim.model.components import Components, build_components
from cuhlm_sim.model.device_state import DeviceState
from cuhlm_sim.model.devices import Device
from cuhlm_sim.model.environment import Environment
from cuhlm_sim.model.llm_device import LlmOnlyDevice
from cuhlm_sim.model.open_loop import OpenLoopDevice, StateAwareOpenLoopDevice
from cuhlm_sim.model.params import SimParams
from cuhlm_sim.model.recording import R, RunResult
from cuhlm_sim.model.rng import Stream, stream
from cuhlm_sim.model.state_device import StateAwareDevice
from cuhlm_sim.model.timers import DraftTimers
from cuhlm_sim.traces.arrays import TraceArrays

log = logging.getLogger(__name__)


def _track_channel(env, parts: Components, end_s: float):
    """Refresh SNR and spectral efficiency (in place) whenever the channel changes."""
    channel, radio = parts.channel, parts.radio
    while True:
        nxt = channel.next_change_at(env.now)
        if nxt <= env.now:  # a block boundary that float rounding puts at "now"
            nxt = channel.next_change_at(env.now + 1e-9 * max(1.0, env.now))
        if nxt >= end_s:
            return
        yield env.timeout(max(0.0, nxt - env.now))
        radio.snr_db[:] = channel.snr_db(env.now)
        radio.eta[:] = radio.rate(radio.snr_db)
        parts.uplink.rates_changed()


#: A run with a progress callback stops this many times to report (simulated time chunks).
PROGRESS_CHUNKS = 1000


def _run_until(
    env: Environment,
    end: float,
    end_s: float,
    progress: Callable[[float, float], None] | None,
) -> None:
    """``env.run(until=end)``, in :data:`PROGRESS_CHUNKS` steps calling
    ``progress(now, end_s)`` when given. A stop is no event (the run loop stops at a key), so
    results are the same as one run."""
    if progress is None:
        env.run(until=end)
        return
    for k in range(1, PROGRESS_CHUNKS):
        stop = end * k / PROGRESS_CHUNKS
        if stop > env.now:
            env.run(until=stop)
            progress(env.now, end_s)
    env.run(until=end)
    progress(min(env.now, end_s), end_s)


def simulate(
    params: SimParams,
    trace: TraceArrays,
    recorder: R,
    *,
    count_events: bool = False,
    progress: Callable[[float, float], None] | None = None,
) -> RunResult[R]:
    """Run one cell; everything it measures goes to ``recorder`` (see
    :func:`cuhlm_sim.runner.simulate` for a run with the metrics recorder). ``progress``,
    if given, is called with the simulated time and the run's end about every 1/1000 of the
    run."""
    env = Environment()
    n_dev = params.devices.count
    parts = build_components(env, params, trace, recorder)
    policy, server, uplink = parts.policy, parts.server, parts.uplink
    recorder.attach(policy, trace)  # the token ledger: what each token adds to the counters
    submit = server.submit if policy.mode == "llm_only" else uplink.submit
    if params.warmup_s > 0:
        env.call_later(params.warmup_s, lambda _: recorder.open_window(env.now))
    if parts.channel.next_change_at(0.0) < params.end_s:
        env.process(_track_channel(env, parts, params.end_s))
    timers = DraftTimers(env, submit)
    # One stream per component, drawn in device order: device i gets the i-th draw whatever
    # the device count, so adding devices leaves the others' offsets and start times alone.
    # Each device's first sequence (its requests take the following ones in turn).
    offsets = stream(params.seed, Stream.TRACE_OFFSET).integers(trace.num_sequences, size=n_dev)
    spread = params.devices.start_spread_s
    starts = (
        stream(params.seed, Stream.START).uniform(0, spread, size=n_dev)
        if spread > 0
        else np.zeros(n_dev)
    )
    # A policy that reads the device's state gets a device that decides at each resumption
    # (state_device.py); row-only policies keep the block-ahead device.
    stateful = policy.uses_state and policy.mode == "hybrid"
    if params.devices.arrival == "poisson":
        cls = StateAwareOpenLoopDevice if stateful else OpenLoopDevice
    elif policy.mode == "llm_only":
        cls = LlmOnlyDevice
    else:
        cls = StateAwareDevice if stateful else Device
    # A policy deciding from the rows alone decides a replayed sequence the same way every
    # time: its devices share one plan per block (model/blocks.py).
    plans = BlockPlans() if cls is Device and not policy.uses_rng else None
    devices = []
    for i, (offset, start) in enumerate(zip(offsets.tolist(), starts.tolist(), strict=True)):
        extra = {}
        if plans is not None:
            extra["block_plans"] = plans
        if stateful:
            tau = params.devices.token_time_s
            extra["state"] = DeviceState(env, i, parts.radio, server, params.energy, tau)
        dev = cls(
            env,
            i,
            params.devices,
            trace,
            policy,
            submit,
            recorder,
            offset,
            seed=params.seed,
            start_delay_s=start,
            priority_key=parts.priority_key,
            timers=timers,
            slm_times=parts.slm_times(i),
            **extra,
        )
        dev.start()
        devices.append(dev)
    log.info(
        "simulating %d devices for %.3g s (+%.3g s warm-up)",
        n_dev,
        params.duration_s,
        params.warmup_s,
    )
    # The run allocates millions of short-lived, acyclic objects (jobs, queue entries); the cyclic
    # collector only costs time here (~8 %), so it is paused for the run.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        # Past end_s by one ulp: SimPy stops *before* the events of the `until` instant, and a
        # verified token committing exactly at end_s belongs to the window (both edges in).
        _run_until(env, math.nextafter(params.end_s, math.inf), params.end_s, progress)
    finally:
        if gc_was_enabled:
            gc.enable()
    for dev in devices:
        dev.close()
    uplink.close(params.end_s)
    recorder.close_window(params.end_s)
    return RunResult(
        params=params,
        recorder=recorder,
        policy=policy,
        payload=parts.payload,
        spectral_efficiency=parts.radio.eta,
        snr_db=parts.radio.snr_db,
        events=env.events_processed if count_events else -1,
        requests_done=sum(d.requests_done for d in devices),
    )
