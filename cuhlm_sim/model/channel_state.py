"""Per-device uplink SNR for the static channel models (`fixed`, `per_device`)."""

from __future__ import annotations

import numpy as np

from cuhlm_sim.model.params import ChannelParams
from cuhlm_sim.model.rng import Stream, stream


def device_snr_db(params: ChannelParams, num_devices: int, seed: int) -> np.ndarray:
    """float64 [num_devices] SNR in dB; per-device draws use each device's CHANNEL stream."""
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
