"""Scenario (validated config) -> frozen model parameters and the loaded trace.

The only place that knows both the schema and the model's parameter classes.
"""

from __future__ import annotations

import numpy as np

from cuhlm_sim.config.profiles import PROFILES
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.errors import ScenarioError
from cuhlm_sim.model.params import (
    ChannelParams,
    DeviceParams,
    EnergyParams,
    PayloadParams,
    PolicyParams,
    ServerParams,
    SimParams,
    UplinkParams,
)
from cuhlm_sim.model.rng import Stream, stream
from cuhlm_sim.traces.arrays import TraceArrays
from cuhlm_sim.traces.io import load_trace
from cuhlm_sim.traces.synth import SynthParams, synth_arrays


def load_scenario_trace(scn: Scenario) -> TraceArrays:
    """The trace a scenario replays: its file(s), or the in-memory synthetic trace."""
    t = scn.trace
    if t.path is None:
        trace = synth_arrays(SynthParams(num_rows=t.synth_rows), seed=t.synth_seed)
        if t.kinds is not None:
            names = np.asarray(trace.kind_names)[trace.kind]
            trace = trace.select(np.isin(names, t.kinds))
        return trace
    return load_trace(t.path, kinds=t.kinds, rng=stream(t.synth_seed, Stream.TRACE_SYNTH))


def _channel(scn: Scenario) -> ChannelParams:
    c = scn.channel
    if (
        c.model == "per_device"
        and c.snr_db_list is not None
        and len(c.snr_db_list) != scn.devices.count
    ):
        raise ScenarioError(
            f"channel.snr_db_list: needs one SNR per device ({scn.devices.count}), "
            f"got {len(c.snr_db_list)}"
        )
    fields = c.model_dump()
    fields["snr_db_list"] = tuple(c.snr_db_list) if c.snr_db_list is not None else None
    return ChannelParams(**fields)


def build_params(scn: Scenario, trace: TraceArrays, *, log_tokens: bool = False) -> SimParams:
    """The schema's sections map one to one onto the model's parameter classes, except where
    a value comes from elsewhere: the latency profile, the downlink, the trace's |V|."""
    s = scn.server
    profile = PROFILES.get(s.profile)  # None for "custom"
    if profile is not None:
        latency = {
            "llm_latency_s": profile.table[0][1],
            "latency_model": "table",
            "latency_table": profile.table,
        }
    else:
        table = tuple((int(b), float(t)) for b, t in s.latency_table or ()) or None
        latency = {
            "llm_latency_s": s.llm_latency_s,
            "latency_model": s.latency_model,
            "latency_table": table,
        }
    server = s.model_dump(exclude={"profile", *latency})
    payload = scn.payload.model_dump()
    payload["vocab_size"] = payload["vocab_size"] or trace.vocab_size
    return SimParams(
        seed=scn.seed,
        duration_s=scn.duration_s,
        warmup_s=scn.warmup_s,
        devices=DeviceParams(**scn.devices.model_dump()),
        channel=_channel(scn),
        uplink=UplinkParams(**scn.uplink.model_dump()),
        server=ServerParams(**server, **latency, downlink_latency_s=scn.downlink.latency_s),
        policy=PolicyParams(**scn.policy.model_dump()),
        payload=PayloadParams(**payload),
        energy=EnergyParams(**scn.energy.model_dump()),
        log_tokens=log_tokens,
    )
