"""Per-device uplink SNR and spectral efficiency over time, for every ``channel.model``.

``fixed`` and ``per_device`` are static. ``pathloss`` wires the channel package (drop, mobility,
path loss + shadowing, block fading, link budget) into a :class:`~.channel.cell.CellChannel`;
the engine asks for new SNRs only at the instants the channel says something changes
(mobility updates, fading blocks), never per token.

SNR to rate (``channel.rate_model``): Shannon with a gap and a cap, or the TS 38.214 CQI
table; both scaled by (1 - BLER) for HARQ retransmissions. Stated simplification: the SNR is
defined over the whole band (constant power spectral density), so a device's spectral
efficiency does not depend on how many resource blocks it is given.
"""

from __future__ import annotations

import math

import numpy as np

from cuhlm_sim.model.channel.cell import CellChannel
from cuhlm_sim.model.channel.fading import BlockFading
from cuhlm_sim.model.channel.geometry import LargeScaleLoss, drop_annulus
from cuhlm_sim.model.channel.mobility import RandomWaypoint, StaticMobility
from cuhlm_sim.model.channel.rate import cqi_se, harq_goodput_se, shannon_se
from cuhlm_sim.model.params import ChannelParams
from cuhlm_sim.model.rng import Stream, device_streams, stream


def device_snr_db(params: ChannelParams, num_devices: int, seed: int) -> np.ndarray:
    """float64 [num_devices] SNR in dB of the static models; per-device draws use each
    device's CHANNEL stream."""
    if params.model == "fixed":
        return np.full(num_devices, params.snr_db)
    if params.snr_db_list is not None:
        return np.asarray(params.snr_db_list, dtype=np.float64)
    if params.spread == "none" or params.spread_db == 0:
        return np.full(num_devices, params.snr_db)
    out = np.empty(num_devices)
    for i in range(num_devices):
        rng = stream(seed, Stream.CHANNEL, i)
        if params.spread == "uniform":
            out[i] = rng.uniform(params.snr_db - params.spread_db, params.snr_db + params.spread_db)
        else:
            out[i] = rng.normal(params.snr_db, params.spread_db)
    return out


def spectral_efficiency(params: ChannelParams, snr_db: np.ndarray) -> np.ndarray:
    """float64 [num_devices] goodput spectral efficiency [bit/s/Hz]."""
    if params.rate_model == "cqi":
        eta = cqi_se(snr_db)
    else:
        cap = params.max_spectral_efficiency or math.inf
        eta = shannon_se(snr_db, params.snr_gap_db, cap)
    if params.harq_bler > 0:
        eta = harq_goodput_se(eta, params.harq_bler)
    return np.asarray(eta, dtype=np.float64)


class StaticChannel:
    """SNRs that never change."""

    def __init__(self, snr_db: np.ndarray) -> None:
        self._snr_db = snr_db

    def snr_db(self, t_s: float) -> np.ndarray:
        return self._snr_db

    def next_change_at(self, t_s: float) -> float:
        return math.inf


def build_channel(
    params: ChannelParams, num_devices: int, bandwidth_hz: float, seed: int
) -> StaticChannel | CellChannel:
    """The channel of a run; random draws come from per-device streams."""
    if params.model != "pathloss":
        return StaticChannel(device_snr_db(params, num_devices, seed))
    # Every draw below is per device, from that device's own stream of the component (rng.py):
    # device i's position, LOS, shadowing, waypoints and fading do not depend on num_devices.
    positions = np.concatenate(
        [
            drop_annulus(rng, 1, params.min_distance_m, params.cell_radius_m)
            for rng in device_streams(seed, Stream.DROP, num_devices)
        ]
    ).reshape(num_devices, 2)  # [num_devices, 2]
    if params.mobility == "random_waypoint":
        mobility = RandomWaypoint(
            device_streams(seed, Stream.MOBILITY, num_devices),
            positions,
            radius_m=params.cell_radius_m,
            min_radius_m=params.min_distance_m,
            speed_min_mps=params.speed_min_mps,
            speed_max_mps=params.speed_max_mps,
            pause_s=params.pause_s,
            update_interval_s=params.mobility_update_s,
        )
    else:
        mobility = StaticMobility(positions)
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
    fading = None
    if params.fading != "none":
        fading = BlockFading(
            device_streams(seed, Stream.FADING, num_devices),
            params.coherence_time_s,
            kind=params.fading,
            k_factor=10 ** (params.rician_k_db / 10),
        )
    return CellChannel(
        mobility, large_scale, fading, params.tx_power_dbm, params.noise_figure_db, bandwidth_hz
    )
