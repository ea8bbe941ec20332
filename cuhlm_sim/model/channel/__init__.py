"""Radio channel of one cell: path loss and shadowing (TR 38.901), block fading, mobility, the
link budget and the SNR → spectral-efficiency mapping (Shannon with gap, TS 38.214 CQI).

Pure, vectorised numpy: no SimPy, no configuration. Random draws take ``numpy.random.Generator``
arguments (from ``cuhlm_sim.model.rng.stream``); nothing here seeds or creates generators.
"""

from cuhlm_sim.model.channel.budget import (
    THERMAL_NOISE_DBM_PER_HZ,
    db_to_linear,
    dbm_to_w,
    linear_to_db,
    noise_power_dbm,
    rb_bandwidth_hz,
    snr_db,
    snr_over_allocation_db,
    w_to_dbm,
)
from cuhlm_sim.model.channel.cell import CellChannel
from cuhlm_sim.model.channel.fading import (
    BlockFading,
    coherence_time_s,
    doppler_hz,
    draw_gain,
    rayleigh_gain,
    rician_gain,
)
from cuhlm_sim.model.channel.geometry import LargeScaleLoss, distance_2d_m, drop_annulus
from cuhlm_sim.model.channel.mobility import RandomWaypoint, StaticMobility
from cuhlm_sim.model.channel.pathloss import (
    breakpoint_distance_m,
    distance_3d_m,
    draw_los,
    draw_shadowing_db,
    free_space_pathloss_db,
    log_distance_pathloss_db,
    los_probability,
    pathloss_db,
    shadowing_std_db,
    uma_pathloss_db,
    umi_pathloss_db,
)
from cuhlm_sim.model.channel.rate import (
    CQI_SNR_THRESHOLDS_DB,
    CQI_SPECTRAL_EFFICIENCY,
    cqi_from_snr,
    cqi_se,
    cqi_spectral_efficiency,
    harq_expected_transmissions,
    harq_goodput_se,
    harq_sample_transmissions,
    shannon_se,
)

__all__ = [
    "CQI_SNR_THRESHOLDS_DB",
    "CQI_SPECTRAL_EFFICIENCY",
    "THERMAL_NOISE_DBM_PER_HZ",
    "BlockFading",
    "CellChannel",
    "LargeScaleLoss",
    "RandomWaypoint",
    "StaticMobility",
    "breakpoint_distance_m",
    "coherence_time_s",
    "cqi_from_snr",
    "cqi_se",
    "cqi_spectral_efficiency",
    "db_to_linear",
    "dbm_to_w",
    "distance_2d_m",
    "distance_3d_m",
    "doppler_hz",
    "draw_gain",
    "draw_los",
    "draw_shadowing_db",
    "drop_annulus",
    "free_space_pathloss_db",
    "harq_expected_transmissions",
    "harq_goodput_se",
    "harq_sample_transmissions",
    "linear_to_db",
    "log_distance_pathloss_db",
    "los_probability",
    "noise_power_dbm",
    "pathloss_db",
    "rayleigh_gain",
    "rb_bandwidth_hz",
    "rician_gain",
    "shadowing_std_db",
    "shannon_se",
    "snr_db",
    "snr_over_allocation_db",
    "uma_pathloss_db",
    "umi_pathloss_db",
    "w_to_dbm",
]
