r"""A slotted uplink: a scheduler splits each slot's resource blocks (RBs) among devices.

Numerology :math:`\mu` sets the subcarrier spacing :math:`15 \cdot 2^\mu` kHz, the RB width
:math:`B_{RB} = 12 \cdot 15 \cdot 2^\mu` kHz and the slot length :math:`T_s = 2^{-\mu}` ms
(TS 38.211 §4.2-4.3). With :math:`N_{RB} = \lfloor W / B_{RB} \rfloor` RBs, device n carries
:math:`B_{RB} T_s \eta_n` bits per RB and slot, :math:`\eta_n` its spectral efficiency. A payload
can span many slots.

Event-driven: the link process runs one event per *busy* slot and sleeps on a single wake-up
event while no device has data, so idle time costs nothing. A payload that arrives mid-slot is
first considered at the next slot boundary; the time until its first RB is its uplink queueing
delay.

Power model (``uplink.power_model``); a device with :math:`r_n` of the :math:`N_{RB}` RBs of a
slot has the share :math:`W_n/W = r_n/N_{RB}` of the band (the RB grid is taken to span W):

* ``constant_psd``: fixed power spectral density, so each RB carries
  :math:`B_{RB} T_s \eta_n` bits at the band SNR, and the device radiates
  :math:`P_{tx} r_n/N_{RB}` during the slot.
* ``full_power``: all of :math:`P_{tx}` goes into the :math:`r_n` RBs, so the slot carries
  :math:`r_n B_{RB} T_s f(\mathrm{SNR}_n + 10\log_{10}(N_{RB}/r_n))` bits (f: the channel's
  SNR → spectral-efficiency map) and the device radiates :math:`P_{tx}` during the slot. The
  scheduler still decides on the band :math:`\eta_n` (a wideband report, the same metric and
  RB needs as under ``constant_psd``): the rate on :math:`r_n \le N_{RB}` RBs is never below
  :math:`r_n B_{RB} T_s \eta_n`, so a device always sends at least what was planned; it may
  finish a payload with RBs to spare, which are not handed to others within that slot.

Only slots in which a device is given RBs cost it transmit energy: ``Job.tx_air_s`` counts
them (circuit power), ``Job.radiated_s`` the radiated energy over :math:`P_{tx}` [s].
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Generator
from functools import partial

import numpy as np
import simpy

from cuhlm_sim.model.job import Job
from cuhlm_sim.model.params import ProportionalFairUplinkParams, SlottedUplinkParams
from cuhlm_sim.model.recording import Recorder
from cuhlm_sim.model.uplink.base import UPLINKS, Radio


def greedy_fill(order: np.ndarray, need: np.ndarray, n_rb: int) -> np.ndarray:
    """Give each device, in ``order``, the RBs it needs while RBs remain. int [m]."""
    if need.sum() <= n_rb:  # enough for everyone: the order does not matter
        return need.copy()
    need_o = need[order]
    before = np.cumsum(need_o) - need_o
    give_o = np.minimum(np.maximum(n_rb - before, 0), need_o)
    rbs = np.empty_like(need)
    rbs[order] = give_o
    return rbs


def slotted_uplink(
    scheduler: type[SlotScheduler],
    env: simpy.Environment,
    params: SlottedUplinkParams,
    radio: Radio,
    deliver: Callable[[list[Job]], None],
    recorder: Recorder,
) -> SlottedUplink:
    """A resource-block uplink whose slots ``scheduler`` splits."""
    return SlottedUplink(
        env,
        params,
        radio.eta,
        scheduler(len(radio.eta), params),
        deliver,
        recorder,
        snr_db=radio.snr_db,
        rate_fn=radio.rate,
    )


def _scheduler(kind: str) -> Callable[[type[SlotScheduler]], type[SlotScheduler]]:
    """Register a slot scheduler as the uplink of ``uplink.scheduler: kind``."""

    def add(cls: type[SlotScheduler]) -> type[SlotScheduler]:
        UPLINKS.add(kind, partial(slotted_uplink, cls))
        return cls

    return add


class SlotScheduler(ABC):
    """Decides the RBs of one slot. ``devs``, ``need`` and ``eta`` cover backlogged devices."""

    def __init__(self, num_devices: int, params: SlottedUplinkParams) -> None:
        self.num_devices = num_devices
        self.params = params

    @abstractmethod
    def allocate(
        self, slot: int, devs: np.ndarray, need: np.ndarray, eta: np.ndarray, n_rb: int
    ) -> np.ndarray:
        """int [len(devs)]: RBs per backlogged device, summing to at most ``n_rb``."""

    def served(self, slot: int, devs: np.ndarray, bits: np.ndarray) -> None:  # noqa: B027
        """Bits each backlogged device sent in ``slot`` (for schedulers with memory)."""


@_scheduler("round_robin")
class RoundRobinScheduler(SlotScheduler):
    """Equal RB shares among backlogged devices, leftovers going round in device order.

    RBs a device does not need are shared among the others (water-filling), and the device
    that gets the first leftover RB rotates every slot.
    """

    def allocate(self, slot, devs, need, eta, n_rb):
        m = devs.size
        order = np.argsort((devs - slot) % self.num_devices, kind="stable")
        rbs = np.zeros(m, dtype=np.int64)
        left = n_rb
        active = need > 0
        while left > 0 and active.any():
            k = int(active.sum())
            share = left // k
            if share == 0:
                first = [i for i in order.tolist() if active[i]][:left]
                rbs[first] += 1
                break
            give = np.where(active, np.minimum(need - rbs, share), 0)
            rbs += give
            left -= int(give.sum())
            active = rbs < need
        return rbs


@_scheduler("proportional_fair")
class ProportionalFairScheduler(SlotScheduler):
    r"""Serve devices in decreasing :math:`\eta_n / T_n`, where
    :math:`T_t(n) = \beta T_{t-1}(n) + (1 - \beta) r_t(n)` is the discounted throughput
    [bit/slot] and :math:`\beta = 1 - 1/\text{pf\_window\_slots}` (Sionna PFSchedulerSUMIMO;
    frequency-flat channel, so the metric is the same on every RB).

    :math:`T` is stored scaled by :math:`\beta^t` so that a slot costs O(served devices), not
    O(all devices); the scale is renormalised before it underflows.
    """

    def __init__(self, num_devices: int, params: ProportionalFairUplinkParams) -> None:
        super().__init__(num_devices, params)
        self.beta = 1.0 - 1.0 / params.pf_window_slots
        self._t_scaled = np.full(num_devices, 1e-9)  # T(n) / g
        self._g = 1.0  # beta ** (slots elapsed since the last renormalisation)
        self._slot = 0

    def _advance_to(self, slot: int) -> None:
        if slot > self._slot:
            self._g *= self.beta ** (slot - self._slot)
            self._slot = slot
            if self._g < 1e-150:
                self._t_scaled *= self._g
                self._g = 1.0

    def allocate(self, slot, devs, need, eta, n_rb):
        self._advance_to(slot)
        # eta = 0 (out of CQI range) never wins; T is floored so the ratio stays finite.
        metric = eta / np.maximum(self._t_scaled[devs], 1e-300)
        order = np.argsort(-metric, kind="stable")
        return greedy_fill(order, need, n_rb)

    def served(self, slot, devs, bits):
        self._advance_to(slot + 1)
        self._t_scaled[devs] += (1.0 - self.beta) * bits / self._g

    def average_throughput(self) -> np.ndarray:
        """T(n) [bit/slot] of every device."""
        return self._t_scaled * self._g


@_scheduler("max_rate")
class MaxRateScheduler(SlotScheduler):
    """Max C/I: the best channel first; others get only what it leaves."""

    def allocate(self, slot, devs, need, eta, n_rb):
        order = np.argsort(-eta, kind="stable")
        return greedy_fill(order, need, n_rb)


class SlottedUplink:
    """Resource-block uplink.

    Parameters
    ----------
    spectral_efficiency : float64 [num_devices]
        :math:`\\eta_n` [bit/s/Hz]; the channel may update it in place between slots.
    scheduler : SlotScheduler
        Splits each slot's RBs.
    deliver : callable(list[Job])
        Called at the end of a slot with the payloads whose last bit it carried.
    """

    def __init__(
        self,
        env: simpy.Environment,
        params: SlottedUplinkParams,
        spectral_efficiency: np.ndarray,
        scheduler: SlotScheduler,
        deliver: Callable[[Job], None],
        recorder: Recorder,
        snr_db: np.ndarray | None = None,
        rate_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.env = env
        self.params = params
        self.slot_s = 1e-3 / 2**params.numerology
        self.rb_hz = 12 * 15e3 * 2**params.numerology
        self.n_rb = params.num_rb or int(params.bandwidth_hz // self.rb_hz)
        if self.n_rb < 1:
            raise ValueError("uplink bandwidth is smaller than one resource block")
        self.eta = spectral_efficiency  # [num_devices], shared with the channel
        self.full_power = params.power_model == "full_power"
        if self.full_power and (snr_db is None or rate_fn is None):
            raise ValueError("full_power needs the band SNRs and the SNR -> rate map")
        self.snr_db = snr_db  # [num_devices] dB, shared with the channel (full_power)
        self.rate_fn = rate_fn
        self.scheduler = scheduler
        self.deliver = deliver
        self.recorder = recorder
        self._queues: dict[int, deque[Job]] = {}  # backlogged devices -> their payloads
        self._remaining: dict[int, float] = {}  # bits left of each head payload
        self._wake: simpy.Event | None = None
        self.slot = 0  # index of the next slot to serve
        env.process(self._run())

    def submit(self, jobs: list[Job]) -> None:
        """Queue payloads that arrive together; they are served from the next slot."""
        now = self.env.now
        empty = []
        queued = 0
        for job in jobs:
            job.t_ul_arrive = now
            job.t_ul_start = -1.0
            if job.bits <= 0:
                job.t_ul_start = job.t_ul_end = now
                job.tx_air_s = job.radiated_s = 0.0
                empty.append(job)
                continue
            q = self._queues.get(job.device)
            if q is None:
                self._queues[job.device] = deque([job])
                self._remaining[job.device] = job.bits
            else:
                q.append(job)
            queued += 1
        if empty:
            self.deliver(empty)
        if not queued:
            return
        self.recorder.uplink_active.arrive(now, queued)
        if self._wake is not None:
            self._wake.succeed()
            self._wake = None

    def _run(self) -> Generator[simpy.Event, object, None]:
        env, rec, slot_s = self.env, self.recorder, self.slot_s
        rb_bits_per_eta = self.rb_hz * slot_s  # bits per RB per unit spectral efficiency
        n_rb, full_power = self.n_rb, self.full_power
        rb_share_s = slot_s / n_rb  # radiated energy over P_tx of one RB for one slot [s]
        while True:
            if not self._queues:
                self._wake = env.event()
                yield self._wake
                k = max(self.slot, math.ceil(env.now / slot_s - 1e-9))
                self.slot = k
                start = k * slot_s
                if start > env.now:
                    yield env.timeout(start - env.now)
            queues, remaining = self._queues, self._remaining
            m = len(remaining)  # remaining and queues share keys and their order
            devs = np.fromiter(remaining.keys(), dtype=np.int64, count=m)
            eta = self.eta[devs]
            rb_bits = rb_bits_per_eta * eta  # [m] bits per RB this slot
            rem = np.fromiter(remaining.values(), dtype=np.float64, count=m)
            can = rb_bits > 0  # eta = 0 (out of CQI range): needs nothing it could get
            if can.all():
                need = np.ceil(rem / rb_bits - 1e-9).astype(np.int64)
            else:
                need = np.zeros(m, dtype=np.int64)
                need[can] = np.ceil(rem[can] / rb_bits[can] - 1e-9)
            rbs = self.scheduler.allocate(self.slot, devs, need, eta, n_rb)
            if full_power:  # all of P_tx on r RBs: SNR + 10 log10(N_RB / r) (module docstring)
                on = rbs > 0
                rb_bits[on] = rb_bits_per_eta * self.rate_fn(
                    self.snr_db[devs[on]] + 10.0 * np.log10(n_rb / rbs[on])
                )
            sent = np.minimum(rbs * rb_bits, rem)
            self.scheduler.served(self.slot, devs, sent)
            t_start = env.now
            yield env.timeout(slot_s)
            self.slot += 1
            t_end = env.now
            served = np.flatnonzero(rbs)
            finished = []
            if served.size:
                rec.uplink_busy(t_start, t_end)
                rec.uplink_slot(t_start, devs[served], rbs[served], sent[served], slot_s)
            devs_l, sent_l, rbs_l = devs.tolist(), sent.tolist(), rbs.tolist()
            for i in served.tolist():
                d = devs_l[i]
                q = queues[d]
                job = q[0]
                if job.t_ul_start < 0:
                    job.t_ul_start = t_start
                    job.tx_air_s = job.radiated_s = 0.0  # a device reuses its Job
                job.tx_air_s += slot_s
                job.radiated_s += slot_s if full_power else rbs_l[i] * rb_share_s
                left = remaining[d] - sent_l[i]
                if left > 1e-9 * job.bits:
                    remaining[d] = left
                    continue
                q.popleft()
                job.t_ul_end = t_end
                finished.append(job)
                if q:
                    remaining[d] = q[0].bits
                else:
                    del queues[d], remaining[d]
            if finished:
                rec.uplink_active.depart(t_end, len(finished))
                self.deliver(finished)

    def rates_changed(self) -> None:
        """Nothing to do: every slot reads the current spectral efficiencies."""

    def close(self, now: float) -> None:
        """Nothing to settle: busy slots are recorded as they end."""
