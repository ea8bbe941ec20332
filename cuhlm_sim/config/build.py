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
    d, s, pol, pay = scn.devices, scn.server, scn.policy, scn.payload
    if pol.kind == "cuhlm" and pol.truncation_k is not None and trace.topk_accept_prob is None:
        raise ScenarioError(
            f"policy.truncation_k: trace {scn.trace.path} has no per-k truncation columns"
        )
    return SimParams(
        seed=scn.seed,
        duration_s=scn.duration_s,
        warmup_s=scn.warmup_s,
        devices=DeviceParams(
            count=d.count,
            slm_latency_s=d.slm_latency_s,
            uncertainty_latency_s=d.uncertainty_latency_s,
            tokens_per_request=d.tokens_per_request,
            think_time_s=d.think_time_s,
            think_time_dist=d.think_time_dist,
            start_spread_s=d.start_spread_s,
            arrival=d.arrival,
            arrival_rate_per_s=d.arrival_rate_per_s,
        ),
        channel=_channel(scn),
        uplink=UplinkParams(**scn.uplink.model_dump()),
        server=ServerParams(
            gpus=s.gpus,
            llm_latency_s=PROFILES[s.profile].table[0][1]
            if s.profile != "custom"
            else s.llm_latency_s,
            max_batch=s.max_batch,
            batch_per_item_s=s.batch_per_item_s,
            max_wait_s=s.max_wait_s,
            downlink_latency_s=scn.downlink.latency_s,
            latency_model="table" if s.profile != "custom" else s.latency_model,
            latency_table=PROFILES[s.profile].table
            if s.profile != "custom"
            else tuple((int(b), float(t)) for b, t in s.latency_table or ()) or None,
            discipline=s.discipline,
        ),
        policy=PolicyParams(
            kind=pol.kind,
            threshold=pol.threshold,
            truncation_k=pol.truncation_k,
            tv_budget=pol.tv_budget,
            rejection_a=pol.rejection_a,
            rejection_b=pol.rejection_b,
            skip_probability=pol.skip_probability,
            importance_threshold=pol.importance_threshold,
            importance_rule=pol.importance_rule,
            importance_weight=pol.importance_weight,
            importance_source=pol.importance_source,
            importance_beta=pol.importance_beta,
        ),
        payload=PayloadParams(
            prob_bits=pay.prob_bits,
            encoding=pay.encoding,
            vocab_size=pay.vocab_size or trace.vocab_size,
            overhead_bits=pay.overhead_bits,
        ),
        energy=EnergyParams(**scn.energy.model_dump()),
        log_tokens=log_tokens,
    )
