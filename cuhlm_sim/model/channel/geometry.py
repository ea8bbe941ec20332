r"""Cell geometry: device drops around the base station at the origin, distances, and the
large-scale loss (path loss + LOS state + shadowing) of every device at its current position.

Positions are 2-D ground coordinates [m], float64 [num_devices, 2], BS at (0, 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from cuhlm_sim.model.channel import pathloss as pl

PathlossKind = Literal["uma", "umi", "log_distance"]


def drop_annulus(
    rng: np.random.Generator, num_devices: int, min_radius_m: float, radius_m: float
) -> np.ndarray:
    r"""Area-uniform drop in the annulus :math:`r_{min} \le r \le R` around the BS.

    .. math::
        r = \sqrt{U(r_{min}^2, R^2)}, \qquad \phi \sim U[0, 2\pi)

    so that :math:`P(r \le \rho) = (\rho^2 - r_{min}^2)/(R^2 - r_{min}^2)` (area fraction).

    Output
    ------
    float64 [num_devices, 2]
        Positions (x, y) [m].
    """
    if not 0.0 <= min_radius_m < radius_m:
        raise ValueError(f"need 0 <= min_radius_m < radius_m (got {min_radius_m}, {radius_m})")
    u = rng.random((num_devices, 2))  # [num_devices, 2] radius², angle
    r = np.sqrt(min_radius_m**2 + u[:, 0] * (radius_m**2 - min_radius_m**2))
    phi = 2.0 * np.pi * u[:, 1]
    return np.stack([r * np.cos(phi), r * np.sin(phi)], axis=1)


def distance_2d_m(positions_m: np.ndarray) -> np.ndarray:
    """Ground distance of each device to the BS at the origin [m], float64 [num_devices]."""
    p = np.asarray(positions_m, dtype=np.float64)
    return np.hypot(p[..., 0], p[..., 1])


class LargeScaleLoss:
    r"""Path loss plus shadowing [dB] of every device as a function of its position.

    Each device keeps one uniform :math:`u_d` and one standard normal :math:`z_d`, drawn once
    from its own generator (so they do not depend on how many other devices exist): its LOS
    state is :math:`u_d < \Pr_{LOS}(d_{2D})` (TR 38.901 Table 7.4.2-1) and its shadowing is
    :math:`\sigma_{SF}(\mathrm{LOS}_d)\,z_d` (Table 7.4.1-1). A moving device thus changes
    LOS state and shadowing consistently with distance without new draws. ASSUMPTION: shadowing
    is constant per device (no spatial correlation over the shadowing decorrelation distances of
    TR 38.901 Table 7.5-6: 37/50 m UMa, 10/13 m UMi, LOS/NLOS).

    Parameters
    ----------
    rngs : sequence of numpy.random.Generator [num_devices]
        One generator per device (``device_streams(seed, Stream.SHADOWING, n)``); device d
        draws u_d, then z_d, from ``rngs[d]``.
    kind : {"uma", "umi", "log_distance"}
        TR 38.901 scenario, or :func:`~.pathloss.log_distance_pathloss_db`.
    carrier_ghz : float, default 3.5
        Carrier f_c [GHz].
    h_bs_m : float or None
        BS height [m]; None = 25 (UMa) / 10 (UMi) (Table 7.4.1-1). log_distance uses the 3-D
        distance when it is given, the ground distance when it is None.
    h_ut_m : float, default 1.5
        Device height [m].
    exponent : float
        Log-distance exponent n [–] (log_distance only).
    reference_distance_m : float, default 1
        Log-distance d_0 [m].
    shadowing_std_db : float, default 0
        Log-distance shadowing sigma [dB] (the 38.901 kinds use Table 7.4.1-1 instead).
    shadowing : bool, default True
        False drops shadowing (deterministic path loss).

    Input
    -----
    positions_m : float64 [num_devices, 2]

    Output
    ------
    float64 [num_devices]
        Path loss + shadowing [dB].
    """

    def __init__(
        self,
        rngs: Sequence[np.random.Generator],
        kind: PathlossKind,
        carrier_ghz: float = 3.5,
        h_bs_m: float | None = None,
        h_ut_m: float = 1.5,
        exponent: float | None = None,
        reference_distance_m: float = 1.0,
        shadowing_std_db: float = 0.0,
        shadowing: bool = True,
    ) -> None:
        if kind not in ("uma", "umi", "log_distance"):
            raise ValueError(f"unknown path-loss kind {kind!r}")
        if kind == "log_distance" and exponent is None:
            raise ValueError("log_distance path loss needs an exponent")
        self.kind = kind
        self.carrier_ghz = float(carrier_ghz)
        if h_bs_m is None:
            h_bs_m = None if kind == "log_distance" else pl.H_BS_DEFAULT_M[kind]
        self.h_bs_m = h_bs_m
        self.h_ut_m = float(h_ut_m)
        self.exponent = exponent
        self.reference_distance_m = float(reference_distance_m)
        self.shadowing_std_db = float(shadowing_std_db)
        self.shadowing = shadowing
        # Per device, never one block per quantity across devices: device d's draws must not
        # depend on the device count. z is drawn even without shadowing, so that switching
        # shadowing off leaves the LOS states alone.
        num_devices = len(rngs)
        self._u = np.empty(num_devices)  # [num_devices] LOS uniform u_d
        self._z = np.empty(num_devices)  # [num_devices] shadowing standard normal z_d
        for d, rng in enumerate(rngs):
            self._u[d] = rng.random()
            self._z[d] = rng.standard_normal()
        if not shadowing:
            self._z[:] = 0.0

    def los(self, positions_m: np.ndarray) -> np.ndarray:
        """LOS state per device, bool [num_devices] (all True for log_distance)."""
        d2d = distance_2d_m(positions_m)
        if self.kind == "log_distance":
            return np.ones(d2d.shape, dtype=bool)
        return self._u < pl.los_probability(self.kind, d2d, self.h_ut_m)

    def components_db(self, positions_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(path loss, shadowing loss) [dB], each float64 [num_devices]."""
        d2d = distance_2d_m(positions_m)  # [num_devices]
        if self.kind == "log_distance":
            d = d2d if self.h_bs_m is None else pl.distance_3d_m(d2d, self.h_bs_m, self.h_ut_m)
            loss = pl.log_distance_pathloss_db(
                d, float(self.exponent), self.carrier_ghz, self.reference_distance_m
            )
            return loss, self.shadowing_std_db * self._z
        los = self._u < pl.los_probability(self.kind, d2d, self.h_ut_m)  # [num_devices]
        loss = pl.pathloss_db(self.kind, d2d, los, self.carrier_ghz, self.h_bs_m, self.h_ut_m)
        return loss, pl.shadowing_std_db(self.kind, los) * self._z

    def loss_db(self, positions_m: np.ndarray) -> np.ndarray:
        """Path loss + shadowing [dB], float64 [num_devices]."""
        loss, shadow = self.components_db(positions_m)
        return loss + shadow
