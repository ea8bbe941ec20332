r"""SNR → spectral efficiency [bit/s/Hz]: Shannon with a gap and a cap, or the TS 38.214 CQI table;
optional HARQ with a BLER target.

The rate of a device on bandwidth W [Hz] is :math:`R = W\,\eta` [bit/s]. With HARQ the goodput is
:math:`\eta\,(1 - \mathrm{BLER})`, i.e. :math:`\eta` divided by the expected number of
transmissions.
"""

from __future__ import annotations

import numpy as np

# TS 38.214 V17 Table 5.2.2.1-2 (4-bit CQI table 1, up to 64QAM). Index = CQI; CQI 0 = out of range.
#: Modulation order Q_m [bit/symbol] per CQI 0..15.
CQI_MODULATION_ORDER = np.array([0, 2, 2, 2, 2, 2, 2, 4, 4, 4, 6, 6, 6, 6, 6, 6], dtype=np.int64)
#: Code rate x 1024 per CQI 0..15.
CQI_CODE_RATE_X1024 = np.array(
    [0, 78, 120, 193, 308, 449, 602, 378, 490, 616, 466, 567, 666, 772, 873, 948], dtype=np.int64
)
#: Spectral efficiency [bit/s/Hz] per CQI 0..15, as printed in the table (4 decimals).
CQI_SPECTRAL_EFFICIENCY = np.array(
    [
        0.0,
        0.1523,
        0.2344,
        0.3770,
        0.6016,
        0.8770,
        1.1758,
        1.4766,
        1.9141,
        2.4063,
        2.7305,
        3.3223,
        3.9023,
        4.5234,
        5.1152,
        5.5547,
    ],
    dtype=np.float64,
)
#: Lowest SNR [dB] at which CQI 1..15 meets 10% BLER on an AWGN SISO link. ASSUMPTION: 3GPP does
#: not specify an SNR → CQI mapping (the UE chooses it, TS 38.214 §5.2.2.1); these are the
#: link-level thresholds widely used in system simulators for the identical LTE table
#: (TS 36.213 Table 7.2.3-1), usually attributed to Kawser et al., "Downlink SNR to CQI mapping
#: for different multiple antenna techniques in LTE", IJIEE 2(5), 2012. Pass your own to change.
CQI_SNR_THRESHOLDS_DB = np.array(
    [-6.7, -4.7, -2.3, 0.2, 2.4, 4.3, 5.9, 8.1, 10.3, 11.7, 14.1, 16.3, 18.7, 21.0, 22.7],
    dtype=np.float64,
)


def shannon_se(
    snr_db: np.ndarray | float, gap_db: float = 0.0, max_se: float = np.inf
) -> np.ndarray:
    r"""Shannon spectral efficiency with an SNR gap Γ and a cap (SNR-gap approximation,
    Goldsmith, *Wireless Communications*, ch. 9; ``docs/theory.md`` §6 is the case Γ = 0 dB).

    .. math::
        \eta = \min\big(\log_2(1 + \mathrm{SNR}/\Gamma),\ \eta_{max}\big)

    Parameters
    ----------
    snr_db : float64 [num_devices]
        SNR [dB].
    gap_db : float, default 0
        Γ [dB], >= 0: the SNR loss of a practical code against capacity.
    max_se : float, default inf
        Cap :math:`\eta_{max}` [bit/s/Hz], e.g. 5.5547 for the top CQI of Table 5.2.2.1-2.

    Output
    ------
    float64 [num_devices]
        :math:`\eta` [bit/s/Hz].
    """
    if gap_db < 0.0:
        raise ValueError(f"SNR gap must be >= 0 dB (got {gap_db})")
    if not max_se > 0.0:
        raise ValueError(f"spectral-efficiency cap must be > 0 (got {max_se})")
    snr = 10.0 ** ((np.asarray(snr_db, dtype=np.float64) - gap_db) / 10.0)
    return np.minimum(np.log2(1.0 + snr), max_se)


def _check_thresholds(thresholds_db: np.ndarray) -> np.ndarray:
    """The mapping needs 15 strictly increasing thresholds (one per CQI 1..15)."""
    t = np.asarray(thresholds_db, dtype=np.float64)
    if t.shape != (15,) or np.any(np.diff(t) <= 0.0):
        raise ValueError("CQI thresholds: need 15 strictly increasing SNRs [dB] for CQI 1..15")
    return t


def cqi_from_snr(
    snr_db: np.ndarray | float, thresholds_db: np.ndarray = CQI_SNR_THRESHOLDS_DB
) -> np.ndarray:
    r"""Highest CQI whose threshold the SNR reaches: :math:`\max\{c : \mathrm{SNR} \ge t_c\}`,
    0 (out of range) below :math:`t_1`.

    Parameters
    ----------
    snr_db : float64 [num_devices]
        SNR [dB].
    thresholds_db : float64 [15]
        :math:`t_1 < \dots < t_{15}` [dB]; default :data:`CQI_SNR_THRESHOLDS_DB` (an assumption).

    Output
    ------
    int64 [num_devices]
        CQI in 0..15.
    """
    t = _check_thresholds(thresholds_db)
    return np.searchsorted(t, np.asarray(snr_db, dtype=np.float64), side="right").astype(np.int64)


def cqi_spectral_efficiency(cqi: np.ndarray | int) -> np.ndarray:
    """Spectral efficiency [bit/s/Hz] of each CQI (TS 38.214 Table 5.2.2.1-2; CQI 0 → 0)."""
    c = np.asarray(cqi, dtype=np.int64)
    if np.any((c < 0) | (c > 15)):
        raise ValueError("CQI must be in 0..15")
    return CQI_SPECTRAL_EFFICIENCY[c]


def cqi_se(
    snr_db: np.ndarray | float, thresholds_db: np.ndarray = CQI_SNR_THRESHOLDS_DB
) -> np.ndarray:
    """SNR [dB] → CQI → spectral efficiency [bit/s/Hz] (0 when out of range)."""
    return CQI_SPECTRAL_EFFICIENCY[cqi_from_snr(snr_db, thresholds_db)]


def _check_bler(bler: np.ndarray | float) -> np.ndarray:
    """BLER must be a probability strictly below 1, or no block ever gets through."""
    b = np.asarray(bler, dtype=np.float64)
    if np.any((b < 0.0) | (b >= 1.0)):
        raise ValueError("BLER must be in [0, 1)")
    return b


def harq_expected_transmissions(
    bler: np.ndarray | float, max_transmissions: int | None = None
) -> np.ndarray:
    r"""Expected transmissions per transport block, independent attempts each failing with
    probability p = BLER (no soft combining, a conservative HARQ model).

    .. math::
        E[N] = \frac{1}{1 - p} \ (\text{unlimited}), \qquad
        E[N] = \frac{1 - p^M}{1 - p} \ (\text{at most } M \text{ transmissions})

    With M, a block is lost with probability :math:`p^M`; the goodput is :math:`\eta(1-p)` in
    both cases.
    """
    p = _check_bler(bler)
    if max_transmissions is None:
        return 1.0 / (1.0 - p)
    if max_transmissions < 1:
        raise ValueError(f"max_transmissions must be >= 1 (got {max_transmissions})")
    return (1.0 - p**max_transmissions) / (1.0 - p)


def harq_goodput_se(se: np.ndarray | float, bler: np.ndarray | float) -> np.ndarray:
    r"""Goodput spectral efficiency :math:`\eta / E[N] = \eta(1 - \mathrm{BLER})` [bit/s/Hz]."""
    return np.asarray(se, dtype=np.float64) * (1.0 - _check_bler(bler))


def harq_sample_transmissions(
    rng: np.random.Generator,
    bler: float,
    size: int | tuple[int, ...],
    max_transmissions: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Transmissions per block, N ~ Geometric(1 − BLER) on {1, 2, ...}, truncated at M.

    Output
    ------
    num_tx : int64 [size]
        Transmissions used (at most M).
    delivered : bool [size]
        False when all M transmissions failed (N > M).
    """
    p = float(_check_bler(bler))
    n = rng.geometric(1.0 - p, size).astype(np.int64)
    if max_transmissions is None:
        return n, np.ones(n.shape, dtype=bool)
    if max_transmissions < 1:
        raise ValueError(f"max_transmissions must be >= 1 (got {max_transmissions})")
    return np.minimum(n, max_transmissions), n <= max_transmissions
