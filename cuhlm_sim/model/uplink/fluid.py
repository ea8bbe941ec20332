r"""The shared uplink: every active transmission gets an equal share of the bandwidth.

Fluid processor sharing with per-device spectral efficiency
:math:`\eta_n = \log_2(1 + \mathrm{SNR}_n)` (Shannon, ``hlm-theory.md`` §6): with
:math:`N(t)` active transmissions, device n sends at :math:`R_n = (W/N(t))\,\eta_n` [bit/s].
The implementation keeps a virtual clock :math:`V` with :math:`dV/dt = W/N(t)` [Hz s]; a payload
of B bits arriving at virtual time :math:`V_0` finishes when :math:`V = V_0 + B/\eta_n`. A heap
on finish tags makes each arrival and departure O(log N), and only the next departure has a
timer, so the cost is proportional to the traffic, not to the number of devices. Payloads that
arrive together with the same size and spectral efficiency share one finish tag, so they share
one heap entry.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

import numpy as np
import simpy
from simpy.events import Timeout

from cuhlm_sim.metrics.recorder import Recorder
from cuhlm_sim.model.job import Job


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
        env: simpy.Environment,
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
        # (V_finish, seq, jobs, eta, bits): jobs with one finish tag and one spectral
        # efficiency; bits = what each had left when the entry was made (its tag is inf
        # while eta = 0, so this is all that remembers a stalled payload's progress)
        self._heap: list[tuple[float, int, list[Job], float, float]] = []
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
        self._advance(now)
        heap = self._heap
        if not heap:
            self._busy_since = now
            self._v = 0.0
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
            push(heap, (v + bits / eta if eta > 0 else math.inf, seq, entry, eta, bits))
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
        dt = max(0.0, (v_head - self._v) * self._n / self.bandwidth_hz)
        self._timer_at = now + dt
        timer = Timeout(self.env, dt)
        timer.gen = self._timer_gen  # stale timers (superseded by a re-arm) are ignored
        timer.callbacks.append(self._timer_cb)

    def _on_timer(self, event: simpy.Event) -> None:
        if event.gen != self._timer_gen:
            return  # superseded by an earlier timer
        now = self.env.now
        self._timer_at = math.inf
        self._advance(now)
        heap = self._heap
        # Done = remaining time below the clock's float resolution (else the timer would
        # re-fire at the same instant forever).
        scale = self._n / self.bandwidth_hz
        v = self._v
        finished: list[Job] = []
        pop = heapq.heappop
        while heap and now + (heap[0][0] - v) * scale <= now:
            finished += pop(heap)[2]
        if not finished:  # early: arrivals since the timer was armed slowed the head down
            self._arm(now)
            return
        for job in finished:
            job.t_ul_end = now
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
        v, eta_now = self._v, self._eta
        heap = []
        for v_fin, _seq, jobs, eta, bits in sorted(self._heap):
            # A payload stalled at rate 0 (outage) keeps what it had left, not its whole size.
            left_bits = (v_fin - v) * eta if eta > 0 else bits
            for job in jobs:  # the devices of one entry may now differ in rate: one entry each
                new_eta = eta_now[job.device]
                new_fin = v + left_bits / new_eta if new_eta > 0 else math.inf
                self._seq += 1  # unique: ties never compare the job lists
                heap.append((new_fin, self._seq, [job], new_eta, left_bits))
        heapq.heapify(heap)
        self._heap = heap
        self._arm(now)

    def close(self, now: float) -> None:
        """Account a busy period still open at the end of the run."""
        if self._heap:
            self.recorder.uplink_busy(self._busy_since, now)
