r"""Link budget: unit conversions, thermal noise over a bandwidth, and the uplink SNR.

.. math::
    N\,[\mathrm{dBm}] &= N_0 + 10\log_{10} B + NF, \qquad N_0 = -174\ \mathrm{dBm/Hz}\\
    \mathrm{SNR}\,[\mathrm{dB}] &= P_{tx} - PL - S + G_{fad} - N

with transmit power :math:`P_{tx}` [dBm], path loss PL [dB], shadowing S [dB] (a loss, zero-mean
normal), small-scale gain :math:`G_{fad} = 10\log_{10}|h|^2` [dB] and noise power N [dBm].
:math:`N_0 = kT_0` at :math:`T_0 = 290` K (k = 1.380649e-23 J/K) is :math:`-173.98` dBm/Hz,
rounded to −174 dBm/Hz as in ``docs/theory.md`` §6.
"""

from __future__ import annotations

import numpy as np

#: Thermal noise density kT_0 at T_0 = 290 K, rounded [dBm/Hz] (docs/theory.md §6 table).
THERMAL_NOISE_DBM_PER_HZ = -174.0
#: Subcarriers per resource block N_sc^RB [–] (TS 38.211 §4.4.4.1).
SUBCARRIERS_PER_RB = 12


def db_to_linear(x_db: np.ndarray | float) -> np.ndarray:
    """10^(x/10) [–] for a power ratio in dB."""
    return 10.0 ** (np.asarray(x_db, dtype=np.float64) / 10.0)


def linear_to_db(x: np.ndarray | float) -> np.ndarray:
    """10 log10(x) [dB] of a power ratio (-inf at 0)."""
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.asarray(x, dtype=np.float64))


def dbm_to_w(p_dbm: np.ndarray | float) -> np.ndarray:
    """P [W] = 10^((P_dBm − 30)/10)."""
    return 10.0 ** ((np.asarray(p_dbm, dtype=np.float64) - 30.0) / 10.0)


def w_to_dbm(p_w: np.ndarray | float) -> np.ndarray:
    """P [dBm] = 10 log10(P_W) + 30 (-inf at 0 W)."""
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.asarray(p_w, dtype=np.float64)) + 30.0


def rb_bandwidth_hz(num_rb: np.ndarray | int, subcarrier_spacing_hz: float) -> np.ndarray:
    """Bandwidth of num_rb resource blocks, num_rb · 12 · Δf [Hz] (TS 38.211 §4.4.4.1)."""
    return np.asarray(num_rb, dtype=np.float64) * SUBCARRIERS_PER_RB * subcarrier_spacing_hz


def noise_power_dbm(
    bandwidth_hz: np.ndarray | float,
    noise_figure_db: float,
    noise_density_dbm_per_hz: float = THERMAL_NOISE_DBM_PER_HZ,
) -> np.ndarray:
    r"""Receiver noise :math:`N = N_0 + 10\log_{10} B + NF` [dBm] over bandwidth B [Hz].

    Pass the *allocated* bandwidth (the RBs a scheduler gives the device, see
    :func:`rb_bandwidth_hz`) to get the noise the device's transmission actually sees.
    """
    b = np.asarray(bandwidth_hz, dtype=np.float64)
    if np.any(b <= 0.0):
        raise ValueError("noise power: bandwidth must be > 0 Hz")
    return noise_density_dbm_per_hz + 10.0 * np.log10(b) + noise_figure_db


def snr_db(
    tx_power_dbm: np.ndarray | float,
    pathloss_db: np.ndarray | float,
    noise_power_dbm: np.ndarray | float,
    shadowing_db: np.ndarray | float = 0.0,
    fading_gain_db: np.ndarray | float = 0.0,
) -> np.ndarray:
    r"""Received SNR :math:`P_{tx} - PL - S + G_{fad} - N` [dB] (module equation).

    Parameters
    ----------
    tx_power_dbm : float or float64 [num_devices]
        Transmit power over the allocated bandwidth [dBm].
    pathloss_db, shadowing_db : float64 [num_devices]
        Path loss and shadowing loss [dB] (:mod:`.pathloss`).
    noise_power_dbm : float or float64 [num_devices]
        Noise over the same bandwidth [dBm] (:func:`noise_power_dbm`).
    fading_gain_db : float64 [num_devices]
        :math:`10\log_{10}|h|^2` [dB] (:mod:`.fading`).
    """
    return (
        np.asarray(tx_power_dbm, dtype=np.float64)
        - pathloss_db
        - shadowing_db
        + fading_gain_db
        - noise_power_dbm
    )


def snr_over_allocation_db(
    snr_full_band_db: np.ndarray | float,
    bandwidth_hz: float,
    allocated_hz: np.ndarray | float,
) -> np.ndarray:
    r"""SNR when the device puts its whole transmit power into ``allocated_hz`` of the band.

    .. math::
        \mathrm{SNR}_{alloc} = \mathrm{SNR}_{B} + 10\log_{10}(B / B_{alloc})

    (noise scales with bandwidth, power does not). This is a device transmitting at its maximum
    power :math:`P_{CMAX}`, the upper branch of the PUSCH power control of TS 38.213 §7.1.1;
    without power limitation that formula keeps the power spectral density instead, i.e. the
    SNR stays ``snr_full_band_db``.
    """
    a = np.asarray(allocated_hz, dtype=np.float64)
    if np.any((a <= 0.0) | (a > bandwidth_hz)):
        raise ValueError("allocated bandwidth must be in (0, bandwidth_hz]")
    return np.asarray(snr_full_band_db, dtype=np.float64) + 10.0 * np.log10(bandwidth_hz / a)
