r"""Large-scale propagation: path loss, LOS probability and shadowing of one cell.

3GPP TR 38.901 V17 §7.4.1 (Table 7.4.1-1, path loss), §7.4.2 (Table 7.4.2-1, LOS probability)
for the Urban Macro (UMa) and Urban Micro street-canyon (UMi) scenarios, outdoor devices, plus a
log-distance model anchored at the free-space loss. All functions are vectorised over distance
arrays and return [dB]. Carrier frequencies are in GHz, as in Table 7.4.1-1 (its Note 1 gives
:math:`f_c` in Hz for the breakpoint distance; the conversion is done here).
Distances outside the table's validity range raise ``ValueError``: nothing is clamped.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

#: Speed of light used by TR 38.901 Table 7.4.1-1 Note 1 for the breakpoint distance [m/s].
C_TR38901_MPS = 3.0e8
#: Speed of light (exact, SI) for the free-space loss [m/s].
SPEED_OF_LIGHT_MPS = 299_792_458.0
#: Effective environment height h_E [m] (Table 7.4.1-1 Note 1: UMi always; UMa with probability
#: 1/(1 + C(d_2D, h_UT)), which is 1 for h_UT <= 13 m since C = 0 there).
H_E_M = 1.0
#: Validity range of d_2D in Table 7.4.1-1 for UMa and UMi [m].
D2D_MIN_M = 10.0
D2D_MAX_M = 5000.0
#: Shadow fading standard deviations sigma_SF [dB] (Table 7.4.1-1).
SHADOWING_STD_DB = {
    ("uma", True): 4.0,
    ("uma", False): 6.0,
    ("umi", True): 4.0,
    ("umi", False): 7.82,
}
#: Default BS heights h_BS [m] (Table 7.4.1-1: UMa 25 m, UMi 10 m).
H_BS_DEFAULT_M = {"uma": 25.0, "umi": 10.0}

Scenario = Literal["uma", "umi"]


def distance_3d_m(distance_2d_m: np.ndarray, h_bs_m: float, h_ut_m: float) -> np.ndarray:
    """d_3D = sqrt(d_2D² + (h_BS − h_UT)²) [m] (TR 38.901 Figure 7.4.1-1)."""
    d2d = np.asarray(distance_2d_m, dtype=np.float64)
    return np.sqrt(d2d**2 + (h_bs_m - h_ut_m) ** 2)


def breakpoint_distance_m(
    carrier_ghz: float, h_bs_m: float, h_ut_m: float, h_e_m: float = H_E_M
) -> float:
    r"""Breakpoint distance :math:`d'_{BP} = 4 h'_{BS} h'_{UT} f_c / c` [m], with
    :math:`h' = h - h_E`, :math:`f_c` in Hz and :math:`c = 3\cdot10^8` m/s
    (TR 38.901 Table 7.4.1-1 Note 1)."""
    return 4.0 * (h_bs_m - h_e_m) * (h_ut_m - h_e_m) * carrier_ghz * 1e9 / C_TR38901_MPS


def free_space_pathloss_db(distance_m: np.ndarray, carrier_ghz: float) -> np.ndarray:
    r"""Friis free-space loss :math:`20\log_{10}(4\pi d f_c / c)` [dB], d in m, f_c in GHz
    (Rappaport, *Wireless Communications*, 2nd ed., eq. (4.6), unity antenna gains); about
    :math:`32.45 + 20\log_{10} f_{GHz} + 20\log_{10} d`."""
    d = np.asarray(distance_m, dtype=np.float64)
    if np.any(d <= 0.0):
        raise ValueError("free-space path loss: distances must be > 0 m")
    return 20.0 * np.log10(4.0 * np.pi * d * carrier_ghz * 1e9 / SPEED_OF_LIGHT_MPS)


def log_distance_pathloss_db(
    distance_m: np.ndarray,
    exponent: float,
    carrier_ghz: float = 3.5,
    reference_distance_m: float = 1.0,
    reference_loss_db: float | None = None,
) -> np.ndarray:
    r"""Log-distance path loss (Rappaport, *Wireless Communications*, 2nd ed., eq. (4.68)).

    .. math::
        PL(d) = PL(d_0) + 10\,n\,\log_{10}(d / d_0)

    Parameters
    ----------
    distance_m : float64 [...]
        Transmitter-receiver distance d [m], > 0.
    exponent : float
        Path-loss exponent n [–] (2 free space, about 2.7–3.5 urban cellular, Rappaport Table 4.2).
    carrier_ghz : float, default 3.5
        Carrier f_c [GHz]; sets PL(d_0) when ``reference_loss_db`` is None.
    reference_distance_m : float, default 1.0
        Reference distance d_0 [m].
    reference_loss_db : float or None
        PL(d_0) [dB]; None uses the free-space loss at d_0 and f_c.

    Output
    ------
    float64 [...]
        Path loss [dB].
    """
    d = np.asarray(distance_m, dtype=np.float64)
    if np.any(d <= 0.0):
        raise ValueError("log-distance path loss: distances must be > 0 m")
    if reference_loss_db is None:
        reference_loss_db = float(free_space_pathloss_db(reference_distance_m, carrier_ghz))
    return reference_loss_db + 10.0 * exponent * np.log10(d / reference_distance_m)


def _check(d2d: np.ndarray, carrier_ghz: float, h_ut_m: float) -> None:
    """Refuse inputs outside Table 7.4.1-1's validity range instead of extrapolating."""
    if np.any((d2d < D2D_MIN_M) | (d2d > D2D_MAX_M)):
        raise ValueError(
            f"TR 38.901 path loss holds for {D2D_MIN_M:g} m <= d_2D <= {D2D_MAX_M:g} m "
            f"(got {d2d.min():g} .. {d2d.max():g} m)"
        )
    if not 0.5 <= carrier_ghz <= 100.0:
        raise ValueError(f"TR 38.901 holds for 0.5 <= f_c <= 100 GHz (got {carrier_ghz:g})")
    if not 1.5 <= h_ut_m <= 22.5:
        raise ValueError(f"TR 38.901 UMa/UMi hold for 1.5 <= h_UT <= 22.5 m (got {h_ut_m:g})")


def _los_two_slope(
    d2d: np.ndarray,
    carrier_ghz: float,
    h_bs_m: float,
    h_ut_m: float,
    a_db: float,
    slope1: float,
    bp_coef: float,
) -> np.ndarray:
    """Shared UMa/UMi LOS form: PL1 up to d'_BP, PL2 beyond (Table 7.4.1-1)."""
    d3d = distance_3d_m(d2d, h_bs_m, h_ut_m)
    d_bp = breakpoint_distance_m(carrier_ghz, h_bs_m, h_ut_m)
    fc_term = 20.0 * np.log10(carrier_ghz)
    pl1 = a_db + slope1 * np.log10(d3d) + fc_term
    pl2 = (
        a_db + 40.0 * np.log10(d3d) + fc_term - bp_coef * np.log10(d_bp**2 + (h_bs_m - h_ut_m) ** 2)
    )
    return np.where(d2d <= d_bp, pl1, pl2)


def uma_pathloss_db(
    distance_2d_m: np.ndarray,
    los: np.ndarray | bool,
    carrier_ghz: float = 3.5,
    h_bs_m: float = 25.0,
    h_ut_m: float = 1.5,
) -> np.ndarray:
    r"""UMa path loss, TR 38.901 Table 7.4.1-1 (f_c in GHz, d in m, h_E = 1 m).

    .. math::
        PL_1 &= 28.0 + 22\log_{10} d_{3D} + 20\log_{10} f_c, \quad 10\,\mathrm{m} \le d_{2D}
            \le d'_{BP}\\
        PL_2 &= 28.0 + 40\log_{10} d_{3D} + 20\log_{10} f_c
            - 9\log_{10}\big(d'^2_{BP} + (h_{BS} - h_{UT})^2\big), \quad d'_{BP} < d_{2D}
            \le 5\,\mathrm{km}\\
        PL'_{NLOS} &= 13.54 + 39.08\log_{10} d_{3D} + 20\log_{10} f_c - 0.6(h_{UT} - 1.5)\\
        PL_{NLOS} &= \max(PL_{LOS}, PL'_{NLOS})

    Parameters
    ----------
    distance_2d_m : float64 [num_devices]
        Ground distance d_2D to the BS [m], in [10, 5000].
    los : bool [num_devices] or bool
        Line-of-sight state of each device.
    carrier_ghz : float, default 3.5
        Carrier f_c [GHz].
    h_bs_m, h_ut_m : float, defaults 25, 1.5
        BS and device antenna heights [m]. h_E = 1 m is exact for h_UT <= 13 m (Note 1);
        ASSUMPTION above 13 m: h_E stays 1 m (the table would draw it from {12, 15, ...,
        h_UT − 1.5} with probability C(d_2D, h_UT)/(1 + C)).

    Output
    ------
    float64 [num_devices]
        Path loss [dB], without shadowing.
    """
    d2d = np.asarray(distance_2d_m, dtype=np.float64)
    _check(d2d, carrier_ghz, h_ut_m)
    pl_los = _los_two_slope(d2d, carrier_ghz, h_bs_m, h_ut_m, 28.0, 22.0, 9.0)
    d3d = distance_3d_m(d2d, h_bs_m, h_ut_m)
    pl_nlos_prime = 13.54 + 39.08 * np.log10(d3d) + 20.0 * np.log10(carrier_ghz)
    pl_nlos_prime -= 0.6 * (h_ut_m - 1.5)
    return np.where(los, pl_los, np.maximum(pl_los, pl_nlos_prime))


def umi_pathloss_db(
    distance_2d_m: np.ndarray,
    los: np.ndarray | bool,
    carrier_ghz: float = 3.5,
    h_bs_m: float = 10.0,
    h_ut_m: float = 1.5,
) -> np.ndarray:
    r"""UMi street-canyon path loss, TR 38.901 Table 7.4.1-1 (f_c in GHz, d in m, h_E = 1 m).

    .. math::
        PL_1 &= 32.4 + 21\log_{10} d_{3D} + 20\log_{10} f_c, \quad 10\,\mathrm{m} \le d_{2D}
            \le d'_{BP}\\
        PL_2 &= 32.4 + 40\log_{10} d_{3D} + 20\log_{10} f_c
            - 9.5\log_{10}\big(d'^2_{BP} + (h_{BS} - h_{UT})^2\big), \quad d'_{BP} < d_{2D}
            \le 5\,\mathrm{km}\\
        PL'_{NLOS} &= 35.3\log_{10} d_{3D} + 22.4 + 21.3\log_{10} f_c - 0.3(h_{UT} - 1.5)\\
        PL_{NLOS} &= \max(PL_{LOS}, PL'_{NLOS})

    Parameters and output as :func:`uma_pathloss_db` (default h_BS = 10 m).
    """
    d2d = np.asarray(distance_2d_m, dtype=np.float64)
    _check(d2d, carrier_ghz, h_ut_m)
    pl_los = _los_two_slope(d2d, carrier_ghz, h_bs_m, h_ut_m, 32.4, 21.0, 9.5)
    d3d = distance_3d_m(d2d, h_bs_m, h_ut_m)
    pl_nlos_prime = 35.3 * np.log10(d3d) + 22.4 + 21.3 * np.log10(carrier_ghz)
    pl_nlos_prime -= 0.3 * (h_ut_m - 1.5)
    return np.where(los, pl_los, np.maximum(pl_los, pl_nlos_prime))


def pathloss_db(
    scenario: Scenario,
    distance_2d_m: np.ndarray,
    los: np.ndarray | bool,
    carrier_ghz: float = 3.5,
    h_bs_m: float | None = None,
    h_ut_m: float = 1.5,
) -> np.ndarray:
    """TR 38.901 path loss [dB] of ``scenario`` ("uma" | "umi"); h_BS defaults per Table 7.4.1-1."""
    h_bs = H_BS_DEFAULT_M[scenario] if h_bs_m is None else h_bs_m
    fn = {"uma": uma_pathloss_db, "umi": umi_pathloss_db}[scenario]
    return fn(distance_2d_m, los, carrier_ghz, h_bs, h_ut_m)


def los_probability(
    scenario: Scenario, distance_2d_m: np.ndarray, h_ut_m: float = 1.5
) -> np.ndarray:
    r"""Outdoor LOS probability, TR 38.901 Table 7.4.2-1 (d = d_2D-out [m]).

    .. math::
        \Pr\nolimits_{LOS}^{UMi} &= 1 \ (d \le 18), \quad
            \tfrac{18}{d} + e^{-d/36}\big(1 - \tfrac{18}{d}\big) \ (d > 18)\\
        \Pr\nolimits_{LOS}^{UMa} &= 1 \ (d \le 18), \quad
            \Big[\tfrac{18}{d} + e^{-d/63}\big(1 - \tfrac{18}{d}\big)\Big]
            \Big(1 + C'(h_{UT})\tfrac54\big(\tfrac{d}{100}\big)^3 e^{-d/150}\Big) \ (d > 18)\\
        C'(h_{UT}) &= 0 \ (h_{UT} \le 13\,\mathrm{m}), \quad
            \big((h_{UT} - 13)/10\big)^{1.5} \ (13 < h_{UT} \le 23\,\mathrm{m})

    Output
    ------
    float64 [num_devices]
        Probability in [0, 1].
    """
    d = np.asarray(distance_2d_m, dtype=np.float64)
    if np.any(d <= 0.0):
        raise ValueError("LOS probability: distances must be > 0 m")
    ratio = 18.0 / np.maximum(d, 18.0)  # = 18/d where d > 18; the d <= 18 branch is 1 anyway
    if scenario == "umi":
        p = ratio + np.exp(-d / 36.0) * (1.0 - ratio)
    elif scenario == "uma":
        if not 0.0 < h_ut_m <= 23.0:
            raise ValueError(f"UMa LOS probability holds for h_UT <= 23 m (got {h_ut_m:g})")
        c_prime = 0.0 if h_ut_m <= 13.0 else ((h_ut_m - 13.0) / 10.0) ** 1.5
        p = (ratio + np.exp(-d / 63.0) * (1.0 - ratio)) * (
            1.0 + c_prime * 1.25 * (d / 100.0) ** 3 * np.exp(-d / 150.0)
        )
    else:
        raise ValueError(f"unknown scenario {scenario!r} (expected 'uma' or 'umi')")
    return np.where(d <= 18.0, 1.0, p)


def draw_los(rng: np.random.Generator, p_los: np.ndarray) -> np.ndarray:
    """LOS state per device, Bernoulli(p_los) (TR 38.901 §7.6.3 draws LOS per link)."""
    p = np.asarray(p_los, dtype=np.float64)
    return rng.random(p.shape) < p


def shadowing_std_db(scenario: Scenario, los: np.ndarray | bool) -> np.ndarray:
    """Log-normal shadow-fading std sigma_SF [dB] per device (Table 7.4.1-1)."""
    return np.where(
        los, SHADOWING_STD_DB[(scenario, True)], SHADOWING_STD_DB[(scenario, False)]
    ).astype(np.float64)


def draw_shadowing_db(
    rng: np.random.Generator, scenario: Scenario, los: np.ndarray | bool
) -> np.ndarray:
    """Shadowing S ~ N(0, sigma_SF²) [dB] per device, added to the path loss (Table 7.4.1-1)."""
    sigma = shadowing_std_db(scenario, los)  # [num_devices]
    return sigma * rng.standard_normal(sigma.shape)
