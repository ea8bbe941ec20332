"""Scenario (validated config) -> frozen model parameters and the loaded trace.

The only place that knows both the schema and the model's parameter classes. Each schema model
maps to the parameter class with the same keys; values are copied, never defaulted here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from pydantic import BaseModel

from cuhlm_sim.config import schema as s
from cuhlm_sim.config.profiles import PROFILES
from cuhlm_sim.errors import ScenarioError, TraceError
from cuhlm_sim.model import params as p
from cuhlm_sim.model.rng import Stream, stream
from cuhlm_sim.traces.arrays import TraceArrays
from cuhlm_sim.traces.io import count_trace_rows, load_trace
from cuhlm_sim.traces.resample import resample_prompts
from cuhlm_sim.traces.synth import SynthParams, synth_arrays

#: schema model -> the model's parameter class with the same keys (tests/unit/test_config_params.py)
PARAMS: dict[type[BaseModel], type] = {
    s.DevicesConfig: p.DeviceParams,
    s.FixedChannelConfig: p.FixedChannelParams,
    s.PerDeviceChannelConfig: p.PerDeviceChannelParams,
    s.PathlossChannelConfig: p.PathlossChannelParams,
    s.EqualShareUplinkConfig: p.UplinkParams,
    s.SlottedUplinkConfig: p.SlottedUplinkParams,
    s.ProportionalFairUplinkConfig: p.ProportionalFairUplinkParams,
    s.AffineServerConfig: p.AffineServerParams,
    s.TableServerConfig: p.TableServerParams,
    s.BasicPolicyConfig: p.PolicyParams,
    s.CuhlmPolicyConfig: p.CuhlmPolicyParams,
    s.IhlmPolicyConfig: p.IhlmPolicyParams,
    s.RandomSkipPolicyConfig: p.RandomSkipPolicyParams,
    s.UhlmAdaptivePolicyConfig: p.UhlmAdaptivePolicyParams,
    s.PayloadConfig: p.PayloadParams,
    s.EnergyConfig: p.EnergyParams,
}


def _frozen(value: Any) -> Any:
    """Lists become tuples, so parameters are immutable all the way down."""
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def section_params(section: BaseModel, **given: Any) -> Any:
    """The model's parameters of one schema section: every key copied from ``section`` except
    the ``given`` ones (values that come from elsewhere)."""
    cls = PARAMS[type(section)]
    return cls(
        **{
            f.name: given[f.name] if f.name in given else _frozen(getattr(section, f.name))
            for f in dataclasses.fields(cls)
        }
    )


def scenario_trace_rows(scn: s.Scenario) -> int:
    """Rows of the trace a scenario replays, from the files' footers (nothing loaded)."""
    if scn.trace.path is None:
        return scn.trace.synth_rows
    return count_trace_rows(scn.trace.path)


def load_scenario_trace(scn: s.Scenario) -> TraceArrays:
    """The trace a scenario replays: its file(s), or the in-memory synthetic trace."""
    t = scn.trace
    if t.path is None:
        trace = synth_arrays(SynthParams(num_rows=t.synth_rows), seed=t.synth_seed)
        if t.kinds is not None:
            names = np.asarray(trace.kind_names)[trace.kind]
            mask = np.isin(names, t.kinds)
            if not mask.any():
                raise TraceError(f"trace.kinds: no rows of kind {t.kinds} in the synthetic trace")
            trace = trace.select(mask)
        return trace
    return load_trace(t.path, kinds=t.kinds, rng=stream(t.synth_seed, Stream.TRACE_SYNTH))


def replayed_trace(scn: s.Scenario, trace: TraceArrays) -> TraceArrays:
    """The trace a run replays: ``trace`` (as loaded, possibly cached and shared by many
    runs), or under ``trace.resample_prompts: true`` the prompts drawn for this run's seed
    from its own stream (``Stream.PROMPTS``), so repetitions draw different prompts and the
    same seed draws the same ones at every point of a sweep (common random numbers). Null
    counts as off here: sweeps and capacity searches turn it on before they get here."""
    if scn.trace.resample_prompts is not True:
        return trace
    return resample_prompts(trace, stream(scn.seed, Stream.PROMPTS))


def _server(scn: s.Scenario) -> p.ServerParams:
    server, downlink_s = scn.server, scn.downlink.latency_s
    if isinstance(server, s.TableServerConfig):
        table = PROFILES[server.profile].table if server.profile else server.latency_table
        return section_params(server, latency_table=_frozen(table), downlink_latency_s=downlink_s)
    return section_params(server, downlink_latency_s=downlink_s)


def auto_pilot_warmup(warmup_s: float | str) -> float:
    """The scenario's warm-up as a number: ``auto`` starts from 0 (the pilot's window)."""
    return 0.0 if warmup_s == "auto" else float(warmup_s)


def build_params(
    scn: s.Scenario,
    trace: TraceArrays,
    *,
    log_tokens: bool = False,
    warmup_s: float | None = None,
) -> p.SimParams:
    """Every section maps onto its parameter class; the values that come from elsewhere are the
    server's table (a profile's) and downlink, and the trace's |V|.

    ``warmup_s`` replaces the scenario's warm-up; with ``warmup_s: auto`` and none given, the
    warm-up is 0 (the pilot run of the detection, :func:`cuhlm_sim.runner.run_scenario`).
    """
    c = scn.channel
    snr_list = getattr(c, "snr_db_list", None)
    if snr_list is not None and len(snr_list) != scn.devices.count:
        raise ScenarioError(
            f"channel.snr_db_list: needs one SNR per device ({scn.devices.count}), "
            f"got {len(snr_list)}"
        )
    return p.SimParams(
        seed=scn.seed,
        duration_s=scn.duration_s,
        warmup_s=warmup_s if warmup_s is not None else auto_pilot_warmup(scn.warmup_s),
        devices=section_params(scn.devices),
        channel=section_params(c),
        uplink=section_params(scn.uplink),
        server=_server(scn),
        policy=section_params(scn.policy),
        payload=section_params(scn.payload, vocab_size=scn.payload.vocab_size or trace.vocab_size),
        energy=section_params(scn.energy),
        log_tokens=log_tokens,
    )
