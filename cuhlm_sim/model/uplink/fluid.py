r"""The shared uplink: every active transmission gets an equal share of the bandwidth.

Fluid processor sharing with per-device spectral efficiency
:math:`\eta_n = \log_2(1 + \mathrm{SNR}_n)` (Shannon, ``docs/theory.md`` §6): with
:math:`N(t)` active transmissions, device n sends at :math:`R_n = (W/N(t))\,\eta_n` [bit/s].
The implementation keeps a virtual clock :math:`V` with :math:`dV/dt = W/N(t)` [Hz s]; a payload
of B bits arriving at virtual time :math:`V_0` finishes when :math:`V = V_0 + B/\eta_n`. A heap
on finish tags makes each arrival and departure O(log N), and only the next departure has a
timer, so the cost is proportional to the traffic, not to the number of devices. Payloads that
arrive together with the same size and spectral efficiency share one finish tag, so they share
one heap entry.

Power model (``uplink.power_model``); rate and energy always come from the same one:

* ``constant_psd`` (:class:`EqualShareUplink`): a device keeps its power spectral density
  :math:`P_{tx}/W`, so on :math:`W_n = W/N(t)` it radiates :math:`P_{tx}/N(t)` and its SNR, hence
  :math:`\eta_n`, is the band's. Its radiated energy over a payload is
  :math:`P_{tx}\int dt/N(t) = P_{tx}\int dV/W = P_{tx} B/(W\eta_n)` whatever N(t): read off
  the finish tag, no per-token work. ``Job.radiated_s`` holds :math:`B/(W\eta_n)`.
* ``full_power`` (:class:`FullPowerShareUplink`): the device puts all of :math:`P_{tx}` into
  :math:`W_n`, so :math:`\mathrm{SNR}_n = \mathrm{SNR} + 10\log_{10} N(t)` and
  :math:`\eta_n` rises as its share shrinks; it radiates :math:`P_{tx}` over its airtime.

A payload at rate 0 (outage: :math:`\eta_n = 0`) keeps the bits it has left and its share of
the band; it sends nothing then, so that time costs no transmit energy (``Job.tx_air_s`` is the
time it actually sent; circuit power is charged on it).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

import numpy as np

from cuhlm_sim.model.environment import Environment
from cuhlm_sim.model.job import Job
from cuhlm_sim.model.params import UplinkParams
from cuhlm_sim.model.recording import Recorder
from cuhlm_sim.model.uplink.base import UPLINKS, Radio


def shannon_spectral_efficiency(snr_db: np.ndarray | float) -> np.ndarray:
    """log2(1 + SNR) [bit/s/Hz] for SNR in dB."""
    return np.log2(1.0 + 10.0 ** (np.asarray(snr_db, dtype=np.float64) / 10.0))


class EqualShareUplink:
    """Processor-sharing uplink.

    Parameters
    ----------
    bandwidth_hz : float
        Total uplink bandwidth W [Hz].
    spectral_efficiency : float64 [num_devices]
        :math:`\\eta_n` [bit/s/Hz] of each device.
    deliver : callable(list[Job])
        Called with the payloads that have fully arrived at the base station.
    """

    def __init__(
        self,
        env: Environment,
        bandwidth_hz: float,
        spectral_efficiency: np.ndarray,
        deliver: Callable[[Job], None],
        recorder: Recorder,
    ) -> None:
        self.env = env
        self.bandwidth_hz = float(bandwidth_hz)
        self.eta = spectral_efficiency  # [num_devices] bit/s/Hz
        self._eta = spectral_efficiency.tolist()  # the same as floats: cheap per payload
        self.deliver = deliver
        self.recorder = recorder
        # (V_finish, seq, jobs, eta, bits, t0, air0, rad0): jobs with one finish tag and one
        # spectral efficiency; bits = what each had left when the entry was made at time t0
        # (its tag is inf while eta = 0, so this is all that remembers a stalled payload's
        # progress); air0, rad0 = Job.tx_air_s and Job.radiated_s of earlier entries (rate
        # changes), so a finish writes each job's energy once instead of adding to it.
        self._heap: list[tuple[float, int, list[Job], float, float, float, float, float]] = []
        self._n = 0  # payloads on the air, N(t)
        self._v = 0.0  # virtual clock [Hz s], reset when the link goes idle
        self._t = 0.0  # simulation time of the last virtual-clock update
        self._seq = 0
        self._timer_at = math.inf
        self._timer_gen = 0
        self._busy_since = 0.0
        self._timer_cb = self._on_timer

    def _advance(self, now: float) -> None:
        if self._n:
            self._v += (now - self._t) * self.bandwidth_hz / self._n
        self._t = now

    def submit(self, jobs: list[Job]) -> None:
        """Start payloads that arrive together (one call per group, not per job)."""
        now = self.env.now
        heap = self._heap
        if heap:  # _advance, inlined (a heap entry holds at least one payload, so N > 0)
            self._v += (now - self._t) * self.bandwidth_hz / self._n
        else:
            self._busy_since = now
            self._v = 0.0
        self._t = now
        seq = first_seq = self._seq + 1
        etas, v, push = self._eta, self._v, heapq.heappush
        empty = None
        n = 0
        last_bits = last_eta = -1.0
        entry: list[Job] = []
        for job in jobs:
            job.t_ul_arrive = job.t_ul_start = now
            bits = job.bits
            if bits <= 0:  # nothing to send (LLM-only tokens): straight through
                job.t_ul_end = now
                job.tx_air_s = job.radiated_s = 0.0  # a device reuses its Job
                if empty is None:
                    empty = []
                empty.append(job)
                continue
            n += 1
            eta = etas[job.device]
            if bits == last_bits and eta == last_eta:
                entry.append(job)  # same finish tag as the previous payload
                continue
            last_bits, last_eta, entry = bits, eta, [job]
            fin = v + bits / eta if eta > 0 else math.inf
            push(heap, (fin, seq, entry, eta, bits, now, 0.0, 0.0))
            seq += 1
        self._seq = seq - 1
        self._n += n
        if n:
            self.recorder.uplink_active.arrive(now, n)
            # An arrival only slows the others down, so an armed timer fires early
            # (harmless); re-arm only if a newcomer is the next to finish.
            if heap[0][1] >= first_seq or self._timer_at == math.inf:
                self._arm(now)
        if empty:
            self.deliver(empty)

    def _arm(self, now: float) -> None:
        v_head = self._heap[0][0]
        self._timer_gen += 1
        if v_head == math.inf:  # nobody can send (zero rate) until the channel changes
            self._timer_at = math.inf
            return
        dt = (v_head - self._v) * self._n / self.bandwidth_hz
        if dt < 0.0:  # max(0.0, dt) without the call
            dt = 0.0
        self._timer_at = now + dt
        # stale timers (superseded by a re-arm) are ignored: each carries its generation
        self.env.call_later(dt, self._timer_cb, self._timer_gen)

    def _on_timer(self, gen: int) -> None:
        if gen != self._timer_gen:
            return  # superseded by an earlier timer
        now = self.env.now
        self._timer_at = math.inf
        heap = self._heap
        w = self.bandwidth_hz
        n_on = self._n
        # _advance, inlined: a live timer means payloads on the air (N > 0)
        self._v = v = self._v + (now - self._t) * w / n_on
        self._t = now
        # Done = remaining time below the clock's float resolution (else the timer would
        # re-fire at the same instant forever).
        scale = n_on / w
        finished: list[Job] = []
        pop = heapq.heappop
        while heap and now + (heap[0][0] - v) * scale <= now:
            _, _, jobs, eta, bits, t0, air, radiated = pop(heap)
            air += now - t0
            radiated += bits / (eta * w)  # ∫ W_n/W dt = ∫ dV/W over the entry's bits/eta of V
            for job in jobs:
                job.t_ul_end = now
                job.tx_air_s = air
                job.radiated_s = radiated
            finished += jobs
        if not finished:  # early: arrivals since the timer was armed slowed the head down
            self._arm(now)
            return
        self._n -= len(finished)
        if heap:
            self._arm(now)
            self.recorder.uplink_finished(finished, now, None)
        else:
            self.recorder.uplink_finished(finished, now, self._busy_since)
        self.deliver(finished)

    def rates_changed(self) -> None:
        """Re-tag active payloads after the channel changed the spectral efficiencies."""
        self._eta = self.eta.tolist()
        if not self._heap:
            return
        now = self.env.now
        self._advance(now)
        v, eta_now, w = self._v, self._eta, self.bandwidth_hz
        heap = []
        for v_fin, _seq, jobs, eta, bits, t0, air, radiated in sorted(self._heap):
            # A payload stalled at rate 0 (outage) keeps what it had left, not its whole size;
            # it sends nothing then, so it is charged no airtime and no radiated energy.
            left_bits = (v_fin - v) * eta if eta > 0 else bits
            if eta > 0:
                air += now - t0
                radiated += (bits - left_bits) / (eta * w)
            for job in jobs:  # the devices of one entry may now differ in rate: one entry each
                new_eta = eta_now[job.device]
                new_fin = v + left_bits / new_eta if new_eta > 0 else math.inf
                self._seq += 1  # unique: ties never compare the job lists
                heap.append((new_fin, self._seq, [job], new_eta, left_bits, now, air, radiated))
        heapq.heapify(heap)
        self._heap = heap
        self._arm(now)

    def close(self, now: float) -> None:
        """Account a busy period still open at the end of the run."""
        if self._heap:
            self.recorder.uplink_busy(self._busy_since, now)


class FullPowerShareUplink:
    r"""Equal shares :math:`W/N(t)` with every device putting all of :math:`P_{tx}` into its share
    (``uplink.power_model = full_power``): device n sends at
    :math:`R_n = (W/N)\,f(\mathrm{SNR}_n + 10\log_{10} N)`, f the channel's SNR → spectral
    efficiency map.

    The rates of the active payloads do not scale together when N changes, so there is no
    common virtual clock: each arrival, departure and channel change settles the bits of every
    active payload, O(active payloads) per event (``constant_psd``'s heap is O(log N)).

    Parameters
    ----------
    snr_db : float64 [num_devices]
        Band SNR [dB] of each device; the channel updates it in place before
        :meth:`rates_changed`.
    rate_fn : callable(float64 [m]) -> float64 [m]
        SNR [dB] → spectral efficiency [bit/s/Hz] (``channel.rate_model``).
    """

    def __init__(
        self,
        env: Environment,
        bandwidth_hz: float,
        snr_db: np.ndarray,
        rate_fn: Callable[[np.ndarray], np.ndarray],
        deliver: Callable[[list[Job]], None],
        recorder: Recorder,
    ) -> None:
        self.env = env
        self.bandwidth_hz = float(bandwidth_hz)
        self.snr_db = snr_db
        self.rate_fn = rate_fn
        self.deliver = deliver
        self.recorder = recorder
        # [job, bits left, rate (bit/s), time stalled at rate 0] per payload on the air
        self._active: list[list] = []
        self._eta_at: dict[int, list[float]] = {}  # N -> eta per device with a W/N share
        self._t = 0.0  # last time the bits were settled
        self._timer_gen = 0
        self._busy_since = 0.0
        self._timer_cb = self._on_timer

    def _eta(self, n: int) -> list[float]:
        eta = self._eta_at.get(n)
        if eta is None:
            eta = self.rate_fn(self.snr_db + 10.0 * math.log10(n)).tolist()
            self._eta_at[n] = eta
        return eta

    def _settle(self, now: float) -> None:
        """Take the bits sent since the last event off every active payload."""
        dt = now - self._t
        self._t = now
        if dt <= 0:
            return
        for a in self._active:
            if a[2] > 0:
                a[1] -= a[2] * dt
            else:
                a[3] += dt

    def _rerate(self, now: float) -> None:
        """New rates for the current N, and a timer at the next departure."""
        active = self._active
        self._timer_gen += 1
        if not active:
            return
        n = len(active)
        eta, share = self._eta(n), self.bandwidth_hz / n
        dt = math.inf
        for a in active:
            a[2] = rate = share * eta[a[0].device]
            if rate > 0:
                dt = min(dt, a[1] / rate)
        if dt == math.inf:  # nobody can send until the channel changes
            return
        self.env.call_later(max(0.0, dt), self._timer_cb, self._timer_gen)

    def submit(self, jobs: list[Job]) -> None:
        """Start payloads that arrive together."""
        now = self.env.now
        self._settle(now)
        if not self._active:
            self._busy_since = now
        empty = []
        n = 0
        for job in jobs:
            job.t_ul_arrive = job.t_ul_start = now
            job.tx_air_s = job.radiated_s = 0.0
            if job.bits <= 0:
                job.t_ul_end = now
                empty.append(job)
                continue
            self._active.append([job, job.bits, 0.0, 0.0])
            n += 1
        if n:
            self.recorder.uplink_active.arrive(now, n)
            self._rerate(now)
        if empty:
            self.deliver(empty)

    def _on_timer(self, gen: int) -> None:
        if gen != self._timer_gen:
            return  # superseded by a later arrival or channel change
        now = self.env.now
        self._settle(now)
        finished: list[Job] = []
        keep = []
        for a in self._active:
            # done when the rest would take less than the clock's float resolution
            if a[2] > 0 and now + a[1] / a[2] <= now:
                job = a[0]
                job.t_ul_end = now
                job.tx_air_s = job.radiated_s = now - job.t_ul_start - a[3]
                finished.append(job)
            else:
                keep.append(a)
        self._active = keep
        self._rerate(now)
        if not finished:
            return
        self.recorder.uplink_finished(finished, now, None if keep else self._busy_since)
        self.deliver(finished)

    def rates_changed(self) -> None:
        """Settle at the old rates, then re-rate with the new SNRs."""
        self._eta_at.clear()
        now = self.env.now
        self._settle(now)
        self._rerate(now)

    def close(self, now: float) -> None:
        """Account a busy period still open at the end of the run."""
        if self._active:
            self.recorder.uplink_busy(self._busy_since, now)


@UPLINKS.register("equal_share")
def equal_share_uplink(
    env: Environment,
    params: UplinkParams,
    radio: Radio,
    deliver: Callable[[list[Job]], None],
    recorder: Recorder,
) -> EqualShareUplink | FullPowerShareUplink:
    """The fluid link; ``uplink.power_model`` says which of the two classes it is."""
    if params.power_model == "full_power":
        return FullPowerShareUplink(
            env, params.bandwidth_hz, radio.snr_db, radio.rate, deliver, recorder
        )
    return EqualShareUplink(env, params.bandwidth_hz, radio.eta, deliver, recorder)
