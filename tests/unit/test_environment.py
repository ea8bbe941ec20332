"""The model's clock (model/environment.py) against SimPy itself: a scheduled call must fire
exactly where a Timeout of the same delay would, among SimPy events and processes, and
``run(until)`` must stop where SimPy's does."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from cuhlm_sim.model.environment import Environment


def _script(env, log: list, use_calls: bool, delays: np.ndarray) -> None:
    """Timers (as calls or as Timeouts) that start more timers, and a SimPy process, all
    logging (time, name) when they fire."""

    def later(delay: float, name: str, then: float | None) -> None:
        def fire(_arg) -> None:
            log.append((env.now, name))
            if then is not None:
                later(then, name + "+", None)

        if use_calls:
            env.call_later(delay, fire)
        else:
            env.timeout(delay).callbacks.append(fire)

    def proc():
        for d in (0.5, 0.25, 0.25):
            yield env.timeout(d)
            log.append((env.now, "proc"))

    env.process(proc())
    for i, d in enumerate(delays):
        later(float(d), f"t{i}", float(delays[-1 - i]))


@pytest.mark.parametrize("seed", range(5))
def test_calls_fire_in_the_order_of_simpy_timeouts(seed):
    # Delays on a coarse grid so that many instants coincide: the tie order is the test.
    delays = np.random.default_rng(seed).integers(0, 8, size=40) * 0.25
    want, got = [], []
    ref = simpy.Environment()
    _script(ref, want, False, delays)
    ref.run(until=1.5)
    ours = Environment()
    _script(ours, got, True, delays)
    ours.run(until=1.5)
    assert got == want
    assert ours.now == ref.now == 1.5
    ref.run(until=10.0)
    ours.run(until=10.0)
    assert got == want and len(got) > 40


def test_run_until_leaves_the_until_instant_to_the_next_run():
    env = Environment()
    fired = []
    env.call_later(1.0, fired.append, "at 1")
    env.call_later(0.5, fired.append, "at 0.5")
    env.run(until=1.0)
    assert fired == ["at 0.5"] and env.now == 1.0
    env.run(until=2.0)
    assert fired == ["at 0.5", "at 1"] and env.now == 2.0
    with pytest.raises(ValueError):
        env.run(until=2.0)
    with pytest.raises(ValueError):
        env.call_later(-1.0, fired.append)


def test_a_failed_event_stops_the_run_as_in_simpy():
    env = Environment()

    def boom():
        yield env.timeout(1.0)
        raise RuntimeError("model bug")

    env.process(boom())
    with pytest.raises(RuntimeError, match="model bug"):
        env.run(until=5.0)


def test_events_processed_counts_calls_and_events_not_the_stop():
    env = Environment()
    for d in (0.1, 0.2, 0.3):
        env.call_later(d, lambda _: None)
    env.timeout(0.4)
    env.run(until=1.0)
    assert env.events_processed == 4
    env.call_later(0.1, lambda _: None)
    env.step()
    assert env.events_processed == 5 and env.now == pytest.approx(1.1)


@pytest.mark.parametrize("seed", range(3))
def test_the_fast_lane_keeps_simpy_order_when_calls_chain_at_small_delays(seed):
    """Each firing schedules a follow-up sooner than everything queued (the lane's case), or
    at the same instant, or later; with SimPy processes waking in between."""
    rng = np.random.default_rng(seed)
    choices = rng.integers(0, 3, size=2000)
    smalls = rng.uniform(0, 1e-6, size=2000)

    def build(env, log, use_calls):
        k = [0]

        def fire(_arg, name):
            log.append((env.now, name))
            i = k[0]
            k[0] += 1
            if i >= len(choices):
                return
            delay = (smalls[i], 0.0, 0.3)[choices[i]]
            if use_calls:
                env.call_later(delay, lambda a: fire(a, name))
            else:
                env.timeout(delay).callbacks.append(lambda e: fire(e, name))

        def proc():
            while True:
                yield env.timeout(0.5)
                log.append((env.now, "proc"))

        env.process(proc())
        for name in "abc":
            if use_calls:
                env.call_later(0.01, lambda a, n=name: fire(a, n))
            else:
                env.timeout(0.01).callbacks.append(lambda e, n=name: fire(e, n))

    want, got = [], []
    ref, ours = simpy.Environment(), Environment()
    build(ref, want, False)
    build(ours, got, True)
    ref.run(until=400.0)
    ours.run(until=400.0)
    assert got == want and len(got) > 2000


def test_run_until_an_event_is_simpys_loop():
    env = Environment()
    done = env.event()
    env.call_later(1.0, lambda _: done.succeed("ok"))
    env.call_later(2.0, lambda _: None)
    assert env.run(until=done) == "ok" and env.now == 1.0
    env.run()
    assert env.now == 2.0 and env.peek() == float("inf")


def test_a_stop_callback_left_by_an_earlier_run_ends_a_numeric_run_as_in_simpy():
    """run(until=event) that fails leaves SimPy's stop callback on the event; when the event
    fires later, inside run(until=number), that run returns at once, in both loops."""

    def script(env):
        ev = env.event()
        with pytest.raises(RuntimeError):
            env.run(until=ev)  # nothing scheduled: SimPy raises, the callback stays
        env.timeout(1.0).callbacks.append(lambda _e: ev.succeed("v"))
        env.timeout(2.0)
        return env.run(until=5.0), env.now

    assert script(Environment()) == script(simpy.Environment()) == ("v", 1.0)


def test_initial_time_is_simpys():
    env = Environment(initial_time=5.0)
    env.call_later(1.0, lambda _: None)
    assert env.now == 5.0 and env.peek() == 6.0
