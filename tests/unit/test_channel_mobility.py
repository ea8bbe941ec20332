"""Device drops and mobility: area-uniform annulus, random waypoint bounds and speed."""

from __future__ import annotations

import numpy as np
import pytest

from cuhlm_sim.model.channel import geometry, mobility
from cuhlm_sim.model.rng import Stream, stream

R, R_MIN = 500.0, 35.0


def test_drop_is_area_uniform_in_the_annulus():
    n = 100_000
    pos = geometry.drop_annulus(stream(0, Stream.CHANNEL), n, R_MIN, R)
    r = geometry.distance_2d_m(pos)
    assert pos.shape == (n, 2)
    assert r.min() >= R_MIN and r.max() <= R
    for rho in (100.0, 250.0, 400.0):
        # P(r <= rho) = (rho² − r_min²)/(R² − r_min²), e.g. rho = 250: 61275/248775 = 0.24631
        p = (rho**2 - R_MIN**2) / (R**2 - R_MIN**2)
        tol = 5.0 * np.sqrt(p * (1.0 - p) / n)  # 5 binomial standard deviations
        assert (r <= rho).mean() == pytest.approx(p, abs=tol)
    # angles uniform: each quadrant holds 1/4 (5σ = 5 · sqrt(3/16/n) = 0.0068)
    assert (pos[:, 0] > 0).mean() == pytest.approx(0.5, abs=0.008)


def test_drop_rejects_bad_radii():
    with pytest.raises(ValueError, match="min_radius_m < radius_m"):
        geometry.drop_annulus(stream(0, Stream.CHANNEL), 3, 100.0, 50.0)


def test_static_mobility():
    pos = np.array([[100.0, 0.0], [0.0, 50.0]])
    m = mobility.StaticMobility(pos)
    np.testing.assert_array_equal(m.positions_at(123.4), pos)
    np.testing.assert_array_equal(m.speeds_mps(), 0.0)


def _rwp(seed: int, n: int, dt: float = 0.5, pause_s: float = 1.0) -> mobility.RandomWaypoint:
    pos = geometry.drop_annulus(stream(seed, Stream.CHANNEL), n, R_MIN, R)
    rngs = [stream(seed, Stream.CHANNEL, 100 + d) for d in range(n)]
    return mobility.RandomWaypoint(rngs, pos, R, R_MIN, 1.0, 15.0, pause_s, dt)


def test_random_waypoint_stays_in_annulus_and_respects_max_speed():
    dt = 0.5
    m = _rwp(1, 200, dt)
    prev = m.positions_at(0.0).copy()
    moved = False
    for k in range(1, 400):  # 200 s, several legs per device
        cur = m.positions_at(k * dt)
        r = geometry.distance_2d_m(cur)
        assert r.max() <= R * (1 + 1e-9) and r.min() >= R_MIN * (1 - 1e-9)
        step = np.hypot(*(cur - prev).T)
        assert step.max() <= 15.0 * dt * (1 + 1e-9)  # at most v_max · Δt
        moved |= bool(step.max() > 0.0)
        prev = cur.copy()
    assert moved


def test_random_waypoint_updates_only_at_the_interval():
    m = _rwp(2, 10, dt=1.0)
    a = m.positions_at(3.0)
    assert m.positions_at(3.999) is a  # same update instant: cached array, no work
    assert not np.array_equal(m.positions_at(4.0), a)
    assert m.next_update_at(3.2) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="back in time"):
        m.positions_at(1.0)


def test_random_waypoint_deterministic_whatever_the_query_pattern():
    dense = _rwp(3, 20, dt=0.25)
    for k in range(400):
        last = dense.positions_at(k * 0.25)
    sparse = _rwp(3, 20, dt=0.25)
    np.testing.assert_array_equal(sparse.positions_at(399 * 0.25), last)


def test_random_waypoint_pause_holds_position():
    # huge pause: after the first leg (at most 2R / v_min = 1000 s) a device never moves again
    m = _rwp(4, 5, dt=100.0, pause_s=1e9)
    a = m.positions_at(2000.0).copy()
    np.testing.assert_array_equal(m.positions_at(5000.0), a)


def test_random_waypoint_validates():
    pos = np.array([[100.0, 0.0]])
    rngs = [stream(0, Stream.CHANNEL)]
    with pytest.raises(ValueError, match="speed"):
        mobility.RandomWaypoint(rngs, pos, R, R_MIN, 0.0, 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="annulus"):
        mobility.RandomWaypoint(rngs, np.array([[10.0, 0.0]]), R, R_MIN, 1.0, 2.0, 0.0, 1.0)


def test_next_update_always_advances_the_tick():
    m = _rwp(5, 2, dt=0.1)
    t = 0.0
    for k in range(1, 5001):
        t = m.next_update_at(t)
        assert int(np.floor(t / 0.1)) == k
