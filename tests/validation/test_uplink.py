"""The shared uplink against hand calculations: progress kept through an outage, the power
model's rate and radiated energy (``uplink.power_model``). Processor sharing (M/G/1-PS) is a
case of the validation table (test_closed_form_table.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cuhlm_sim.config.build import section_params
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.experiments.validation.table import payload_bits, shannon_airtime
from cuhlm_sim.metrics.recorder import Recorder
from cuhlm_sim.model.channel.rate import shannon_se
from cuhlm_sim.model.environment import Environment
from cuhlm_sim.model.job import Job
from cuhlm_sim.model.uplink import EqualShareUplink, FullPowerShareUplink, SlottedUplink
from cuhlm_sim.model.uplink.slotted import RoundRobinScheduler


def _done_times(env: Environment) -> tuple[dict[int, float], object]:
    done: dict[int, float] = {}

    def deliver(jobs: list[Job]) -> None:
        for job in jobs:
            done[job.device] = env.now

    return done, deliver


@pytest.mark.parametrize("power_model", ["constant_psd", "full_power"])
def test_fluid_outage_keeps_progress(power_model):
    """1 Mbit at 1 MHz · 1 bit/s/Hz = 1 Mbit/s, with η = 0 during [0.5, 0.6] s.

    By hand: 0.5 Mbit sent by t = 0.5 s; nothing in [0.5, 0.6]; the other 0.5 Mbit takes
    0.5 s from t = 0.6 s, so the payload arrives at 1.1 s (not 1.6 s, which is what starting
    over after the outage would give). It sent for 1.0 s of the 1.1 s: transmit energy is
    charged on 1.0 s (alone on the band, both power models radiate P_tx).
    """
    env = Environment()
    rec = Recorder(0.0, 10.0, 1, False)
    done, deliver = _done_times(env)
    eta, snr_db = np.array([1.0]), np.array([0.0])
    if power_model == "full_power":
        link = FullPowerShareUplink(env, 1e6, snr_db, shannon_se, deliver, rec)
    else:
        link = EqualShareUplink(env, 1e6, eta, deliver, rec)
    job = Job(0, 0, 1e6)
    link.submit([job])

    def fade() -> object:
        yield env.timeout(0.5)
        eta[0], snr_db[0] = 0.0, -math.inf
        link.rates_changed()
        yield env.timeout(0.1)
        eta[0], snr_db[0] = 1.0, 0.0
        link.rates_changed()

    env.process(fade())
    env.run()
    assert done[0] == pytest.approx(1.1, rel=1e-12)
    assert job.t_ul_end - job.t_ul_start == pytest.approx(1.1, rel=1e-12)
    assert job.tx_air_s == pytest.approx(1.0, rel=1e-12)
    assert job.radiated_s == pytest.approx(1.0, rel=1e-12)


def test_fluid_outage_of_one_device_leaves_the_other_at_half_rate():
    """W = 1 Hz, both η = 1, 4 bit each from t = 0 (one shared heap entry), device 1 out
    during [1, 3] s. By hand: 0.5 bit/s each until t = 1 (3.5 bit left each); the stalled
    device still holds its half of the band, so device 0 sends 1 bit in [1, 3] (2.5 left) and
    device 1 nothing; from t = 3 both at 0.5 bit/s: device 0 ends at 3 + 2.5/0.5 = 8 s,
    device 1 has 1 bit left then, alone at 1 bit/s: ends at 9 s."""
    env = Environment()
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


# --- power model: radiated energy and airtime ------------------------------------------------
#
# Hand figures: W = 1 MHz, SNR = 0 dB (η = log2 2 = 1 bit/s/Hz), B = 1 Mbit, so one device alone
# needs B/(Wη) = 1 s. With N payloads sharing W equally:
#   constant_psd: each sends at (W/N)·1 bit/s → airtime N s; it radiates P_tx/N → P_tx·1 s.
#   full_power:   SNR_n = N (linear) on W/N → rate (W/N)·log2(1 + N), radiates P_tx all along.


@pytest.mark.parametrize("n", [1, 2, 5, 20])
def test_constant_psd_radiated_energy_per_payload_is_b_over_w_eta(n):
    """N payloads together: airtime N·B/(Wη) = N s, radiated energy P_tx·B/(Wη) = P_tx·1 s."""
    env = Environment()
    rec = Recorder(0.0, 1e3, n, False)
    _, deliver = _done_times(env)
    link = EqualShareUplink(env, 1e6, np.ones(n), deliver, rec)
    jobs = [Job(i, 0, 1e6) for i in range(n)]
    link.submit(jobs)
    env.run()
    for job in jobs:
        assert job.t_ul_end - job.t_ul_start == pytest.approx(n * 1.0, rel=1e-12)
        assert job.tx_air_s == pytest.approx(n * 1.0, rel=1e-12)
        assert job.radiated_s == pytest.approx(1.0, rel=1e-12)  # × P_tx = energy


def test_constant_psd_radiated_energy_across_a_rate_change():
    """W = 1 MHz, two 1-Mbit payloads at η = 1 from t = 0 (0.5 Mbit/s each); at t = 1 s each
    has 0.5 Mbit left and device 1's η becomes 2: it sends at 1 Mbit/s and ends at 1.5 s;
    device 0 has 0.25 Mbit left then, alone at 1 Mbit/s: ends at 1.75 s. Radiated over P_tx:
    Σ bits/(W η) per segment = 1 s for device 0, 0.5 + 0.5/2 = 0.75 s for device 1."""
    env = Environment()
    rec = Recorder(0.0, 100.0, 2, False)
    done, deliver = _done_times(env)
    eta = np.array([1.0, 1.0])
    link = EqualShareUplink(env, 1e6, eta, deliver, rec)
    a, b = Job(0, 0, 1e6), Job(1, 0, 1e6)
    link.submit([a, b])

    def change():
        yield env.timeout(1.0)
        eta[1] = 2.0
        link.rates_changed()

    env.process(change())
    env.run()
    assert (done[0], done[1]) == pytest.approx((1.75, 1.5), rel=1e-12)
    assert (a.tx_air_s, b.tx_air_s) == pytest.approx((1.75, 1.5), rel=1e-12)
    assert (a.radiated_s, b.radiated_s) == pytest.approx((1.0, 0.75), rel=1e-12)


@pytest.mark.parametrize("n", [2, 5, 20])
def test_constant_psd_radiated_energy_with_staggered_arrivals(n):
    """Arrivals 0.1 s apart, so N(t) changes all the time: still P_tx·B/(Wη) per payload, and
    payloads of different devices (η = 1, 2, 4, ...) each radiate B/(W η_n)."""
    env = Environment()
    rec = Recorder(0.0, 1e3, n, False)
    _, deliver = _done_times(env)
    eta = np.array([2.0 ** (i % 3) for i in range(n)])
    link = EqualShareUplink(env, 1e6, eta, deliver, rec)
    jobs = [Job(i, 0, 1e6) for i in range(n)]

    def arrive(job, at):
        yield env.timeout(at)
        link.submit([job])

    for i, job in enumerate(jobs):
        env.process(arrive(job, 0.1 * i))
    env.run()
    for i, job in enumerate(jobs):
        assert job.radiated_s == pytest.approx(1.0 / 2.0 ** (i % 3), rel=1e-9)
        assert job.tx_air_s == pytest.approx(job.t_ul_end - job.t_ul_start, rel=1e-12)


@pytest.mark.parametrize("n", [1, 2, 5, 20])
def test_full_power_airtime_and_energy(n):
    """N payloads together under full_power: airtime B/((W/N)·log2(1 + N)), radiated P_tx over
    all of it (1 s, 1.262 s, 1.934 s, 4.553 s)."""
    env = Environment()
    rec = Recorder(0.0, 1e3, n, False)
    _, deliver = _done_times(env)
    link = FullPowerShareUplink(env, 1e6, np.zeros(n), shannon_se, deliver, rec)
    jobs = [Job(i, 0, 1e6) for i in range(n)]
    link.submit(jobs)
    env.run()
    air = 1e6 / (1e6 / n * math.log2(1 + n))
    for job in jobs:
        assert job.t_ul_end - job.t_ul_start == pytest.approx(air, rel=1e-12)
        assert job.tx_air_s == pytest.approx(air, rel=1e-12)
        assert job.radiated_s == pytest.approx(air, rel=1e-12)


def test_full_power_staggered_hand_computed():
    """W = 1 Hz, SNR 0 dB. Device 0: 4 bit at t = 0, alone at log2(2) = 1 bit/s: 3 bit left at
    t = 1, when device 1 brings 2 bit. Two on the air: each at (1/2)·log2(1 + 2) bit/s, so
    device 1 ends at t1 = 1 + 2/(0.5 log2 3) = 3.524 s; device 0 has 1 bit left then, alone at
    1 bit/s: ends at t1 + 1. (constant_psd would give 5 s and 6 s.)"""
    env = Environment()
    rec = Recorder(0.0, 100.0, 2, False)
    done, deliver = _done_times(env)
    link = FullPowerShareUplink(env, 1.0, np.zeros(2), shannon_se, deliver, rec)
    a, b = Job(0, 0, 4.0), Job(1, 0, 2.0)
    link.submit([a])

    def later():
        yield env.timeout(1.0)
        link.submit([b])

    env.process(later())
    env.run()
    t1 = 1 + 2 / (0.5 * math.log2(3))
    assert done[1] == pytest.approx(t1, rel=1e-12)
    assert done[0] == pytest.approx(t1 + 1.0, rel=1e-12)
    assert (a.radiated_s, b.radiated_s) == pytest.approx((t1 + 1.0, t1 - 1.0), rel=1e-12)
    assert rec.uplink_busy_s == pytest.approx(t1 + 1.0, rel=1e-12)


@pytest.mark.parametrize(
    ("power_model", "slots", "radiated_ms"),
    [
        # 5 of 10 RBs at η = 1: 5·180 bit/slot → 18,000 bit in 20 slots; radiates 5/10 of P_tx.
        ("constant_psd", 20, 10.0),
        # all of P_tx on 5 of 10 RBs: SNR 0 dB + 10 log10(2), η = log2 3 → 1426.5 bit/slot,
        # 18,000 bit in ceil(12.62) = 13 slots, radiating P_tx in each.
        ("full_power", 13, 13.0),
    ],
)
def test_slotted_power_models_hand_computed(power_model, slots, radiated_ms):
    """1.8 MHz at numerology 0: 10 RBs of 180 kHz, 1 ms slots; two devices with 18,000 bit
    each from t = 0, round robin: 5 RBs each per slot."""
    env = Environment()
    rec = Recorder(0.0, 100.0, 2, False)
    _, deliver = _done_times(env)
    uplink = {"bandwidth_hz": 1.8e6, "scheduler": "round_robin", "power_model": power_model}
    params = section_params(Scenario.model_validate({"uplink": uplink}).uplink)
    snr_db, eta = np.zeros(2), np.ones(2)  # 0 dB: η = 1
    sched = RoundRobinScheduler(2, params)
    link = SlottedUplink(env, params, eta, sched, deliver, rec, snr_db=snr_db, rate_fn=shannon_se)
    jobs = [Job(0, 0, 18_000.0), Job(1, 0, 18_000.0)]
    link.submit(jobs)
    env.run(until=1.0)
    for job in jobs:
        assert job.t_ul_end == pytest.approx(slots * 1e-3, rel=1e-12)
        assert job.tx_air_s == pytest.approx(slots * 1e-3, rel=1e-12)
        assert job.radiated_s == pytest.approx(radiated_ms * 1e-3, rel=1e-12)


# --- power model in whole runs: the summary's transmit energy ------------------------------
#
# W = 10 MHz, SNR = 0 dB (η = 1), |V| = 32,000 indexed 8-bit: B = 32,000·(8 + 15) = 736 kbit,
# so one device alone needs B/(Wη) = 73.6 ms.
B_BITS, W_HZ = payload_bits(32_000), 10e6
ALONE_S = shannon_airtime(B_BITS, W_HZ, 0.0)


def _cell(simulate, n, power_model, lockstep, energy, **extra):
    """HLM (every token sent), N devices at 0 dB. ``lockstep``: all start at t = 0 and never
    idle, and the GPU verifies all N in one batch, so every payload shares the band with
    exactly N - 1 others from start to end."""
    devices = {"count": n, "slm_latency_s": 0.05}
    if lockstep:
        devices |= {"start_spread_s": 0.0, "think_time_s": 0.0}
    else:
        devices |= {"start_spread_s": 1.0, "think_time_s": 0.5}
    return simulate(
        duration_s=60.0,
        warmup_s=2.0,
        devices=devices,
        channel={"snr_db": 0.0},
        uplink={"bandwidth_hz": W_HZ, "power_model": power_model},
        payload={"vocab_size": 32_000},
        server={"llm_latency_s": 0.05, "max_batch": max(n, 1), "batch_per_item_s": 0.001},
        policy={"kind": "hlm"},
        energy=energy,
        **extra,
    )


def _per_transmission(s, key):
    m = s["tokens_generated"] * s["transmission_rate"]  # HLM: every token is one payload
    return s["energy_breakdown_j"][key] / m


@pytest.mark.parametrize("n", [1, 2, 5, 20])
def test_summary_radiated_energy_constant_psd(simulate, n):
    """Devices come and go (random starts, think times), so N(t) varies: the radiated energy
    per payload is still P_tx·B/(Wη) = 0.2 W · 73.6 ms for every N (circuit power 0 here)."""
    energy = {"tx_power_w": 0.2, "tx_circuit_w": 0.0}
    s = _cell(simulate, n, "constant_psd", lockstep=False, energy=energy)
    if n > 1:
        assert s["mean_airtime_s"] > 1.1 * ALONE_S  # the devices did share the band
    assert _per_transmission(s, "device_transmit") == pytest.approx(0.2 * ALONE_S, rel=1e-9)


@pytest.mark.parametrize("n", [1, 2, 5, 20])
def test_summary_transmit_energy_full_power(simulate, n):
    """Lock-step N devices under full_power: airtime B/((W/N) log2(1 + N)) (SNR_n = N, linear)
    and transmit energy (P_tx + P_circ) × airtime."""
    energy = {"tx_power_w": 0.2, "tx_circuit_w": 0.1}
    s = _cell(simulate, n, "full_power", lockstep=True, energy=energy)
    air = B_BITS / (W_HZ / n * math.log2(1 + n))
    assert s["mean_airtime_s"] == pytest.approx(air, rel=1e-9)
    assert _per_transmission(s, "device_transmit") == pytest.approx(0.3 * air, rel=1e-9)


def test_summary_device_energy_two_devices_hand_computed(simulate):
    """Two lock-step devices, constant_psd. Per token (all sent, no queueing anywhere):
    drafting P_cmp τ; on the air 2B/(Wη) = 147.2 ms at P_tx/2 radiated + P_circ;
    then waiting P_wait over the batch of 2 (τ_llm + τ_item) and the downlink."""
    e = {"device_compute_w": 4.0, "device_wait_w": 0.5, "tx_power_w": 0.2, "tx_circuit_w": 0.3}
    s = _cell(simulate, 2, "constant_psd", lockstep=True, energy=e, downlink={"latency_s": 0.01})
    air = 2 * ALONE_S
    e_tx = 0.2 * ALONE_S + 0.3 * air
    e_dev = 4.0 * 0.05 + e_tx + 0.5 * (0.05 + 0.001 + 0.01)
    assert s["mean_airtime_s"] == pytest.approx(air, rel=1e-9)
    assert _per_transmission(s, "device_transmit") == pytest.approx(e_tx, rel=1e-9)
    assert s["device_energy_per_token_j"] == pytest.approx(e_dev, rel=1e-9)


@pytest.mark.parametrize("power_model", ["constant_psd", "full_power"])
def test_summary_slotted_charges_only_served_slots(simulate, power_model):
    """One RB (180 kHz, 1 ms slots) for two devices at 0 dB: 180 bit per served slot, and a
    1,800-bit payload (dense, |V| = 225 × 8 bit) needs 10 served slots, whoever else waits.
    Round robin alternates the RB when both are backlogged, so a payload is on the air for up
    to 19 ms, but the device sends in 10 slots only: (P_tx + P_circ) · 10 ms (the one RB is
    the whole band, so both power models agree)."""
    e = {"tx_power_w": 0.2, "tx_circuit_w": 0.1}
    s = simulate(
        duration_s=20.0,
        warmup_s=1.0,
        devices={"count": 2, "slm_latency_s": 0.02, "think_time_s": 0.0},
        channel={"snr_db": 0.0},
        uplink={"bandwidth_hz": 180e3, "scheduler": "round_robin", "power_model": power_model},
        payload={"vocab_size": 225, "encoding": "dense"},
        server={"llm_latency_s": 0.01, "max_batch": 2, "max_wait_s": 0.005},
        policy={"kind": "hlm"},
        energy=e,
    )
    assert s["mean_airtime_s"] > 0.015  # the two did wait for each other's slots
    assert _per_transmission(s, "device_transmit") == pytest.approx(0.3 * 0.010, rel=1e-9)
