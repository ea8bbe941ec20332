"""Every plug-in of one run, built from its parameters through the registries.

The engine builds a run's components here, and so does ``cuhlm validate``
(:func:`cuhlm_sim.runner.check_scenario`), so a scenario whose policy, channel, uplink or server
cannot be built fails before anything runs. Set-up only: nothing here is called per token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cuhlm_sim.model.channel.cell import CellChannel
from cuhlm_sim.model.channel_state import StaticChannel, build_channel, rate_map
from cuhlm_sim.model.environment import Environment
from cuhlm_sim.model.params import SimParams
from cuhlm_sim.model.payload import PayloadModel
from cuhlm_sim.model.policies import POLICIES, Policy
from cuhlm_sim.model.recording import Recorder
from cuhlm_sim.model.rng import Stream, stream
from cuhlm_sim.model.server import DISCIPLINES, GpuServer
from cuhlm_sim.model.timing import TimeFactors, factor_source
from cuhlm_sim.model.uplink import UPLINKS, Radio, Uplink
from cuhlm_sim.traces.arrays import TraceArrays


@dataclass
class Components:
    payload: PayloadModel
    policy: Policy  # POLICIES[policy.kind]
    server: GpuServer  # DISCIPLINES[server.discipline], BATCH_LATENCIES[server.latency_model]
    channel: StaticChannel | CellChannel  # CHANNELS[channel.model] (+ FADING, MOBILITY)
    radio: Radio  # SNR and spectral efficiency now (RATE_MAPS[channel.rate_model])
    uplink: Uplink  # UPLINKS[uplink.scheduler]
    priority_key: np.ndarray | None  # [num_rows] GPU queue priority of each trace row
    slm_times: Callable[[int], TimeFactors | None]  # device -> its drafting-time factors


def build_components(
    env: Environment, params: SimParams, trace: TraceArrays, recorder: Recorder
) -> Components:
    """Look every kind up in its registry and build it; the server is the uplink's sink."""
    payload = PayloadModel(params.payload)
    policy = POLICIES.create(params.policy.kind, params.policy, trace, payload)
    sp = params.server
    gpu_source = factor_source(
        sp.llm_latency_dist, sp.llm_latency_cv, trace.t_target_ms, "server.llm_latency_dist"
    )
    server = GpuServer(env, sp, recorder, gpu_source(lambda: stream(params.seed, Stream.GPU_TIME)))
    channel = build_channel(
        params.channel, params.devices.count, params.uplink.bandwidth_hz, params.seed
    )
    rate = rate_map(params.channel)
    snr_db = np.array(channel.snr_db(0.0), dtype=np.float64)  # [num_devices] dB
    radio = Radio(snr_db, rate(snr_db), rate)
    uplink = UPLINKS.create(
        params.uplink.scheduler, env, params.uplink, radio, server.submit, recorder
    )
    dp = params.devices
    slm_source = factor_source(
        dp.slm_latency_dist, dp.slm_latency_cv, trace.t_draft_ms, "devices.slm_latency_dist"
    )

    def slm_times(device: int) -> TimeFactors | None:
        return slm_source(lambda: stream(params.seed, Stream.SLM_TIME, device))

    queue = DISCIPLINES.get(params.server.discipline)
    priority_key = queue.row_priority(trace, params.policy)
    return Components(payload, policy, server, channel, radio, uplink, priority_key, slm_times)
