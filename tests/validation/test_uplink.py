"""The shared uplink against hand calculations: progress kept through an outage."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from cuhlm_sim.metrics.recorder import Recorder
from cuhlm_sim.model.job import Job
from cuhlm_sim.model.uplink import EqualShareUplink


def _done_times(env: simpy.Environment) -> tuple[dict[int, float], object]:
    done: dict[int, float] = {}

    def deliver(jobs: list[Job]) -> None:
        for job in jobs:
            done[job.device] = env.now

    return done, deliver


def test_fluid_outage_keeps_progress():
    """1 Mbit at 1 MHz · 1 bit/s/Hz = 1 Mbit/s, with η = 0 during [0.5, 0.6] s.

    By hand: 0.5 Mbit sent by t = 0.5 s; nothing in [0.5, 0.6]; the other 0.5 Mbit takes
    0.5 s from t = 0.6 s, so the payload arrives at 1.1 s (not 1.6 s, which is what starting
    over after the outage would give).
    """
    env = simpy.Environment()
    rec = Recorder(0.0, 10.0, 1, False)
    done, deliver = _done_times(env)
    eta = np.array([1.0])
    link = EqualShareUplink(env, 1e6, eta, deliver, rec)
    job = Job(0, 0, 1e6)
    link.submit([job])

    def fade() -> object:
        yield env.timeout(0.5)
        eta[0] = 0.0
        link.rates_changed()
        yield env.timeout(0.1)
        eta[0] = 1.0
        link.rates_changed()

    env.process(fade())
    env.run()
    assert done[0] == pytest.approx(1.1, rel=1e-12)
    assert job.t_ul_end - job.t_ul_start == pytest.approx(1.1, rel=1e-12)


def test_fluid_outage_of_one_device_leaves_the_other_at_half_rate():
    """W = 1 Hz, both η = 1, 4 bit each from t = 0 (one shared heap entry), device 1 out
    during [1, 3] s. By hand: 0.5 bit/s each until t = 1 (3.5 bit left each); the stalled
    device still holds its half of the band, so device 0 sends 1 bit in [1, 3] (2.5 left) and
    device 1 nothing; from t = 3 both at 0.5 bit/s: device 0 ends at 3 + 2.5/0.5 = 8 s,
    device 1 has 1 bit left then, alone at 1 bit/s: ends at 9 s."""
    env = simpy.Environment()
    rec = Recorder(0.0, 100.0, 2, False)
    done, deliver = _done_times(env)
    eta = np.array([1.0, 1.0])
    link = EqualShareUplink(env, 1.0, eta, deliver, rec)
    link.submit([Job(0, 0, 4.0), Job(1, 0, 4.0)])

    def fade() -> object:
        yield env.timeout(1.0)
        eta[1] = 0.0
        link.rates_changed()
        yield env.timeout(2.0)
        eta[1] = 1.0
        link.rates_changed()

    env.process(fade())
    env.run()
    assert done[0] == pytest.approx(8.0, rel=1e-12)
    assert done[1] == pytest.approx(9.0, rel=1e-12)
