"""Per-device uplink SNR and spectral efficiency over time: the registries that turn the
channel parameters into the channel of a run.

``CHANNELS`` (``channel.model``): ``fixed`` and ``per_device`` are static; ``pathloss`` wires the
channel package (drop, mobility, path loss + shadowing, block fading, link budget) into a
:class:`~.channel.cell.CellChannel`, with its small-scale fading from ``FADING``
(``channel.fading``) and its movement from ``MOBILITY`` (``channel.mobility``). The engine asks
for new SNRs only at the instants the channel says something changes (mobility updates, fading
blocks), never per token.

``RATE_MAPS`` (``channel.rate_model``): SNR to rate, Shannon with a gap and a cap, or the
TS 38.214 CQI table; both scaled by (1 - BLER) for HARQ retransmissions. Stated simplification:
the SNR is defined over the whole band (constant power spectral density), so a device's
spectral efficiency does not depend on how many resource blocks it is given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from cuhlm_sim.model.channel.cell import CellChannel
from cuhlm_sim.model.channel.fading import BlockFading
from cuhlm_sim.model.channel.geometry import LargeScaleLoss, drop_annulus
from cuhlm_sim.model.channel.mobility import RandomWaypoint, StaticMobility
from cuhlm_sim.model.channel.rate import cqi_se, harq_goodput_se, shannon_se
from cuhlm_sim.model.params import (
    ChannelParams,
    FixedChannelParams,
    PathlossChannelParams,
    PerDeviceChannelParams,
)
from cuhlm_sim.model.registry import Registry
from cuhlm_sim.model.rng import Stream, device_streams, stream

#: SNR [dB] -> goodput spectral efficiency [bit/s/Hz], both float64 [num_devices].
RateMap = Callable[[np.ndarray], np.ndarray]


# --- SNR -> rate -----------------------------------------------------------------------------

#: ``channel.rate_model`` -> factory of the run's :data:`RateMap` (from the channel params).
RATE_MAPS: Registry[RateMap] = Registry("rate model")


def _with_harq(params: ChannelParams, se: RateMap) -> RateMap:
    """``se`` scaled by (1 - BLER) for HARQ retransmissions when the BLER target is > 0."""
    bler = params.harq_bler
    if bler > 0:
        return lambda snr_db: np.asarray(harq_goodput_se(se(snr_db), bler), dtype=np.float64)
    return lambda snr_db: np.asarray(se(snr_db), dtype=np.float64)


@RATE_MAPS.register("shannon")
def shannon_rate(params: ChannelParams) -> RateMap:
    """eta = min(log2(1 + SNR/gap), cap)."""
    cap = params.max_spectral_efficiency or math.inf
    gap_db = params.snr_gap_db
    return _with_harq(params, lambda snr_db: shannon_se(snr_db, gap_db, cap))


@RATE_MAPS.register("cqi")
def cqi_rate(params: ChannelParams) -> RateMap:
    """The TS 38.214 efficiency of the highest CQI the SNR supports."""
    return _with_harq(params, cqi_se)


def rate_map(params: ChannelParams) -> RateMap:
    """The SNR -> spectral-efficiency map of ``channel.rate_model``, built once per run."""
    return RATE_MAPS.create(params.rate_model, params)


# --- channel models --------------------------------------------------------------------------


class StaticChannel:
    """SNRs that never change."""

    def __init__(self, snr_db: np.ndarray) -> None:
        self._snr_db = snr_db

    def snr_db(self, t_s: float) -> np.ndarray:
        return self._snr_db

    def next_change_at(self, t_s: float) -> float:
        return math.inf


#: ``channel.model`` -> factory(params, num_devices, bandwidth_hz, seed) of the run's channel.
CHANNELS: Registry[StaticChannel | CellChannel] = Registry("channel model")


@CHANNELS.register("fixed")
def fixed_channel(
    params: FixedChannelParams, num_devices: int, bandwidth_hz: float, seed: int
) -> StaticChannel:
    """Every device at ``snr_db``."""
    return StaticChannel(np.full(num_devices, params.snr_db))


@CHANNELS.register("per_device")
def per_device_channel(
    params: PerDeviceChannelParams, num_devices: int, bandwidth_hz: float, seed: int
) -> StaticChannel:
    """The listed SNRs, or a spread around ``snr_db`` drawn once per device from its own
    CHANNEL stream."""
    if params.snr_db_list is not None:
        return StaticChannel(np.asarray(params.snr_db_list, dtype=np.float64))
    if params.spread == "none" or params.spread_db == 0:
        return StaticChannel(np.full(num_devices, params.snr_db))
    snr_db = np.empty(num_devices)  # [num_devices] dB
    for i in range(num_devices):
        rng = stream(seed, Stream.CHANNEL, i)
        if params.spread == "uniform":
            snr_db[i] = rng.uniform(
                params.snr_db - params.spread_db, params.snr_db + params.spread_db
            )
        else:
            snr_db[i] = rng.normal(params.snr_db, params.spread_db)
    return StaticChannel(snr_db)


@CHANNELS.register("pathloss")
def cell_channel(
    params: PathlossChannelParams, num_devices: int, bandwidth_hz: float, seed: int
) -> CellChannel:
    """Devices dropped in a cell, moving by ``MOBILITY``, faded by ``FADING``. Every draw is per
    device, from that device's own stream of the component (rng.py): device i's position, LOS,
    shadowing, waypoints and fading do not depend on num_devices."""
    positions = np.concatenate(
        [
            drop_annulus(rng, 1, params.min_distance_m, params.cell_radius_m)
            for rng in device_streams(seed, Stream.DROP, num_devices)
        ]
    ).reshape(num_devices, 2)  # [num_devices, 2]
    mobility = MOBILITY.create(
        params.mobility, params, device_streams(seed, Stream.MOBILITY, num_devices), positions
    )
    large_scale = LargeScaleLoss(
        device_streams(seed, Stream.SHADOWING, num_devices),
        params.pathloss_model,
        carrier_ghz=params.carrier_ghz,
        h_bs_m=params.bs_height_m,
        h_ut_m=params.ut_height_m,
        exponent=params.pathloss_exponent if params.pathloss_model == "log_distance" else None,
        reference_distance_m=params.reference_distance_m,
        shadowing_std_db=params.shadowing_std_db,
        shadowing=params.shadowing,
    )
    fading = FADING.create(params.fading, params, device_streams(seed, Stream.FADING, num_devices))
    return CellChannel(
        mobility, large_scale, fading, params.tx_power_dbm, params.noise_figure_db, bandwidth_hz
    )


def build_channel(
    params: ChannelParams, num_devices: int, bandwidth_hz: float, seed: int
) -> StaticChannel | CellChannel:
    """The channel of a run (``channel.model``); random draws come from per-device streams."""
    return CHANNELS.create(params.model, params, num_devices, bandwidth_hz, seed)


# --- pathloss: fading and mobility -----------------------------------------------------------

Streams = Sequence[np.random.Generator]  # one generator per device

#: ``channel.fading`` -> factory(params, per-device streams) of the block fading (None: none).
FADING: Registry[BlockFading | None] = Registry("fading model")


@FADING.register("none")
def no_fading(params: PathlossChannelParams, rngs: Streams) -> None:
    return None


@FADING.register("rayleigh")
@FADING.register("rician")
def block_fading(params: PathlossChannelParams, rngs: Streams) -> BlockFading:
    """Gains redrawn every coherence time; ``rician`` with K = ``rician_k_db``."""
    return BlockFading(
        rngs, params.coherence_time_s, kind=params.fading, k_factor=10 ** (params.rician_k_db / 10)
    )


#: ``channel.mobility`` -> factory(params, per-device streams, start positions [n, 2] m).
MOBILITY: Registry[StaticMobility | RandomWaypoint] = Registry("mobility model")


@MOBILITY.register("static")
def static_mobility(
    params: PathlossChannelParams, rngs: Streams, positions: np.ndarray
) -> StaticMobility:
    return StaticMobility(positions)


@MOBILITY.register("random_waypoint")
def random_waypoint(
    params: PathlossChannelParams, rngs: Streams, positions: np.ndarray
) -> RandomWaypoint:
    return RandomWaypoint(
        rngs,
        positions,
        radius_m=params.cell_radius_m,
        min_radius_m=params.min_distance_m,
        speed_min_mps=params.speed_min_mps,
        speed_max_mps=params.speed_max_mps,
        pause_s=params.pause_s,
        update_interval_s=params.mobility_update_s,
    )
