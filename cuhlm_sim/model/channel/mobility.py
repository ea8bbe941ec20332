r"""Device mobility: static, or random waypoint in the cell annulus.

Positions are sampled on a grid of update instants :math:`k\,\Delta` (``update_interval_s``):
``positions_at(t)`` returns the positions at :math:`\lfloor t/\Delta \rfloor \Delta`, computed
once per update and cached, so the engine can ask per token at no cost and the channel (distance,
SNR) changes only every Δ. Motion between updates is integrated exactly (piecewise linear legs).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cuhlm_sim.model.channel.fading import next_grid_time_s
from cuhlm_sim.model.channel.geometry import drop_annulus

#: Waypoint redraws before giving up when no straight leg avoids the inner disc.
MAX_WAYPOINT_TRIES = 10_000


class StaticMobility:
    """Devices that never move: ``positions_at(t)`` is the drop, float64 [num_devices, 2] [m]."""

    def __init__(self, positions_m: np.ndarray) -> None:
        self._pos = np.array(positions_m, dtype=np.float64)  # [num_devices, 2]
        self._pos.setflags(write=False)

    def positions_at(self, t_s: float) -> np.ndarray:
        return self._pos

    def speeds_mps(self) -> np.ndarray:
        """Current speeds [m/s], float64 [num_devices] (all 0)."""
        return np.zeros(len(self._pos))


def _leg_clearance_m(a: np.ndarray, b: np.ndarray) -> float:
    """Smallest distance from the origin (BS) to the segment a→b [m]."""
    ab = b - a
    den = float(ab @ ab)
    s = 0.0 if den == 0.0 else min(1.0, max(0.0, -float(a @ ab) / den))
    return float(np.hypot(*(a + s * ab)))


class RandomWaypoint:
    r"""Random waypoint (Johnson & Maltz 1996; Camp, Boleng & Davies 2002, §2.1) in the annulus
    :math:`r_{min} \le r \le R` around the BS.

    Each device walks in a straight line to a waypoint drawn area-uniformly in the annulus, at a
    speed :math:`v \sim U(v_{min}, v_{max})` drawn per leg, pauses ``pause_s``, and repeats.
    Waypoints whose leg would pass closer than :math:`r_{min}` to the BS are redrawn, so every
    position keeps :math:`r_{min} \le r \le R` (the disc is convex, so R holds anyway). Devices
    start moving at t = 0 from their drop positions. :math:`v_{min} > 0` avoids the speed decay
    of random waypoint with :math:`v_{min} = 0` (Yoon, Liu & Noble, INFOCOM 2003).

    Parameters
    ----------
    rngs : sequence of numpy.random.Generator [num_devices]
        One generator per device (waypoints and speeds).
    initial_positions_m : float64 [num_devices, 2]
        Start positions [m], inside the annulus.
    radius_m, min_radius_m : float
        Cell radius R and minimum distance to the BS r_min [m].
    speed_min_mps, speed_max_mps : float
        Leg speed range [m/s], 0 < v_min <= v_max.
    pause_s : float
        Pause at each waypoint [s], >= 0.
    update_interval_s : float
        Δ [s] between position updates, > 0.
    """

    def __init__(
        self,
        rngs: Sequence[np.random.Generator],
        initial_positions_m: np.ndarray,
        radius_m: float,
        min_radius_m: float,
        speed_min_mps: float,
        speed_max_mps: float,
        pause_s: float,
        update_interval_s: float,
    ) -> None:
        pos = np.array(initial_positions_m, dtype=np.float64)  # [num_devices, 2]
        n = len(rngs)
        if pos.shape != (n, 2):
            raise ValueError(f"initial positions: expected shape ({n}, 2), got {pos.shape}")
        if not 0.0 < speed_min_mps <= speed_max_mps:
            raise ValueError("need 0 < speed_min_mps <= speed_max_mps")
        if pause_s < 0.0 or update_interval_s <= 0.0:
            raise ValueError("need pause_s >= 0 and update_interval_s > 0")
        r = np.hypot(pos[:, 0], pos[:, 1])
        tol = 1e-9 * radius_m
        if np.any((r < min_radius_m - tol) | (r > radius_m + tol)):
            raise ValueError("initial positions must lie in the annulus [min_radius_m, radius_m]")
        self.rngs = list(rngs)
        self.radius_m = float(radius_m)
        self.min_radius_m = float(min_radius_m)
        self.speed_min_mps = float(speed_min_mps)
        self.speed_max_mps = float(speed_max_mps)
        self.pause_s = float(pause_s)
        self.update_interval_s = float(update_interval_s)
        # Current leg of each device: leaves origin at leg_start_at, reaches target at arrive_at,
        # then pauses until arrive_at + pause_s.
        self._origin = pos.copy()  # [num_devices, 2]
        self._target = np.empty_like(pos)  # [num_devices, 2]
        self._speed = np.empty(n)  # [num_devices] [m/s]
        self._leg_start_at = np.zeros(n)  # [num_devices] [s]
        self._arrive_at = np.empty(n)  # [num_devices] [s]
        for d in range(n):
            self._new_leg(d, 0.0)
        self._tick = -1
        self._pos = pos  # [num_devices, 2] positions at tick _tick

    @property
    def num_devices(self) -> int:
        return len(self.rngs)

    def _new_leg(self, d: int, start_at: float) -> None:
        """Draw device d's next waypoint (clear of the inner disc) and speed."""
        a = self._origin[d]
        rng = self.rngs[d]
        for _ in range(MAX_WAYPOINT_TRIES):
            b = drop_annulus(rng, 1, self.min_radius_m, self.radius_m)[0]
            if _leg_clearance_m(a, b) >= self.min_radius_m * (1.0 - 1e-12):
                break
        else:
            raise RuntimeError(
                f"random waypoint: no leg clear of the {self.min_radius_m} m inner disc after "
                f"{MAX_WAYPOINT_TRIES} draws (min_radius_m too close to radius_m?)"
            )
        self._target[d] = b
        self._speed[d] = rng.uniform(self.speed_min_mps, self.speed_max_mps)
        self._leg_start_at[d] = start_at
        self._arrive_at[d] = start_at + float(np.hypot(*(b - a))) / self._speed[d]

    def _advance_legs(self, t_s: float) -> None:
        """Start every leg that begins at or before t_s (only devices past a pause)."""
        while True:
            done = np.flatnonzero(self._arrive_at + self.pause_s <= t_s)
            if done.size == 0:
                return
            for d in done.tolist():
                self._origin[d] = self._target[d]
                self._new_leg(d, self._arrive_at[d] + self.pause_s)

    def _exact_positions(self, t_s: float) -> np.ndarray:
        """Positions at t_s, once every leg starting at or before t_s exists."""
        self._advance_legs(t_s)
        travelled = np.clip(t_s - self._leg_start_at, 0.0, None) * self._speed  # [num_devices]
        leg = self._target - self._origin  # [num_devices, 2]
        length = np.hypot(leg[:, 0], leg[:, 1])  # [num_devices]
        frac = np.where(length > 0.0, np.minimum(travelled / np.where(length > 0, length, 1), 1), 1)
        return self._origin + frac[:, None] * leg

    def positions_at(self, t_s: float) -> np.ndarray:
        """Positions at the last update instant floor(t/Δ)·Δ, float64 [num_devices, 2] [m].

        Time must not go back before the previous update instant.
        """
        tick = int(np.floor(t_s / self.update_interval_s))
        if tick != self._tick:
            if tick < self._tick:
                raise ValueError(f"mobility queried back in time (t = {t_s} s)")
            self._pos = self._exact_positions(tick * self.update_interval_s)
            self._pos.setflags(write=False)
            self._tick = tick
        return self._pos

    def next_update_at(self, t_s: float) -> float:
        """First update instant strictly after t_s [s] (``positions_at`` there is a new tick)."""
        tick = np.floor(t_s / self.update_interval_s)
        return float(next_grid_time_s(tick, self.update_interval_s))

    def speeds_mps(self) -> np.ndarray:
        """Speed of each device's current or last leg [m/s], float64 [num_devices]."""
        return self._speed.copy()
