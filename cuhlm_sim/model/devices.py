"""The device process: draft tokens, skip or transmit, wait for verification.

Each device replays the trace from its own random offset with an integer cursor. Per request
it asks the policy for a whole block of decisions at once, then advances through the block:
a run of m skipped tokens followed by a transmitted one costs one timeout of (m + 1)·τ, and a
skipped token never touches a shared resource or creates an event of its own.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import simpy

from cuhlm_sim.metrics.recorder import Recorder
from cuhlm_sim.model.job import Job
from cuhlm_sim.model.params import DeviceParams
from cuhlm_sim.model.policies.base import Policy
from cuhlm_sim.traces.arrays import TraceArrays

#: Largest block of trace rows decided at once (bounds memory for very long requests).
BLOCK_ROWS = 8192


class Device:
    """One mobile device running the SLM.

    Parameters
    ----------
    index : int
        Device id (also its RNG spawn key).
    offset : int
        First trace row it replays.
    submit : callable(Job)
        Where a transmitted draft goes (the uplink, or the GPU directly for LLM-only).
    """

    def __init__(
        self,
        env: simpy.Environment,
        index: int,
        params: DeviceParams,
        trace: TraceArrays,
        policy: Policy,
        submit,
        recorder: Recorder,
        offset: int,
        policy_rng: np.random.Generator,
        think_rng: np.random.Generator,
        start_delay_s: float = 0.0,
        priority_key: np.ndarray | None = None,
    ) -> None:
        self.env = env
        self.index = index
        self.params = params
        self.trace = trace
        self.policy = policy
        self.submit = submit
        self.recorder = recorder
        self.cursor = offset
        self.policy_rng = policy_rng
        self.think_rng = think_rng
        self.requests_done = 0
        self.start_delay_s = start_delay_s
        self.priority_key = priority_key  # [num_rows] GPU queue priority of each trace row

    def _think_s(self) -> float:
        mean = self.params.think_time_s
        if mean <= 0:
            return 0.0
        if self.params.think_time_dist == "fixed":
            return mean
        return float(self.think_rng.exponential(mean))

    def run(self) -> Generator[simpy.Event, object, None]:
        if self.start_delay_s > 0:
            yield self.env.timeout(self.start_delay_s)
        if self.params.arrival == "poisson":
            yield from self._run_open()
        elif self.policy.mode == "llm_only":
            yield from self._run_llm_only()
        else:
            yield from self._run_hybrid()

    def _blocks(self):
        """Yield the trace-row blocks of one request."""
        n = self.trace.num_rows
        left = self.params.tokens_per_request
        while left > 0:
            size = min(left, BLOCK_ROWS)
            yield (self.cursor + np.arange(size)) % n
            self.cursor = (self.cursor + size) % n
            left -= size

    def _run_hybrid(self) -> Generator[simpy.Event, object, None]:
        env, rec, policy, dev = self.env, self.recorder, self.policy, self.index
        tau = self.params.token_time_s
        slm_s = tau
        trace_acc = self.trace.accepted
        trace_pi = self.trace.accept_prob
        log = rec.log_tokens
        pending = 0.0  # device time committed to skipped tokens but not yet yielded
        while True:
            for rows in self._blocks():
                tx = policy.transmit(rows, self.policy_rng)
                sent_pos = np.flatnonzero(tx)
                # Prefix sums as lists: the recorder indexes them per run (faster than numpy).
                cum_acc = np.concatenate(([0.0], np.cumsum(trace_acc[rows]))).tolist()
                cum_pi = np.concatenate(([0.0], np.cumsum(trace_pi[rows]))).tolist()
                if sent_pos.size:
                    sent_rows = rows[sent_pos]
                    bits = policy.payload_bits(sent_rows).tolist()
                    accepted = policy.accepted(sent_rows).tolist()
                    ks = policy.truncation_k(sent_rows).tolist()
                    sent_rows_l = sent_rows.tolist()
                pos = 0
                for j, p in enumerate(sent_pos.tolist()):
                    m = p - pos
                    if m:
                        rec.skipped_run(
                            dev,
                            env.now + pending,
                            tau,
                            m,
                            cum_acc,
                            cum_pi,
                            pos,
                            rows if log else None,
                        )
                    yield env.timeout(pending + (m + 1) * tau)
                    pending = 0.0
                    job = Job(env, dev, sent_rows_l[j], bits[j])
                    job.accepted = accepted[j]
                    job.k = ks[j]
                    if self.priority_key is not None:
                        job.priority = float(self.priority_key[job.row])
                    job.t_start = env.now - tau
                    self.submit(job)
                    yield job.done
                    rec.sent(job, slm_s)
                    pos = p + 1
                m = rows.shape[0] - pos
                if m:
                    rec.skipped_run(
                        dev,
                        env.now + pending,
                        tau,
                        m,
                        cum_acc,
                        cum_pi,
                        pos,
                        rows if log else None,
                    )
                    pending += m * tau
            self.requests_done += 1
            pending += self._think_s()
            if pending > 0:
                yield env.timeout(pending)
                pending = 0.0

    def _run_llm_only(self) -> Generator[simpy.Event, object, None]:
        env, rec, dev = self.env, self.recorder, self.index
        while True:
            for rows in self._blocks():
                for row in rows.tolist():
                    job = Job(env, dev, row, 0.0)
                    job.k = 0
                    job.t_start = env.now
                    self.submit(job)
                    yield job.done
                    rec.sent(job, 0.0)
            self.requests_done += 1
            think = self._think_s()
            if think > 0:
                yield env.timeout(think)

    def _run_open(self) -> Generator[simpy.Event, object, None]:
        """Open-loop workload: Poisson token arrivals that never wait for each other."""
        env, rec, policy, dev = self.env, self.recorder, self.policy, self.index
        llm_only = policy.mode == "llm_only"
        tau = 0.0 if llm_only else self.params.token_time_s
        n = self.trace.num_rows
        mean_gap = 1.0 / self.params.arrival_rate_per_s
        while True:
            rows = (self.cursor + np.arange(BLOCK_ROWS)) % n
            self.cursor = (self.cursor + BLOCK_ROWS) % n
            gaps = self.think_rng.exponential(mean_gap, BLOCK_ROWS).tolist()
            tx = policy.transmit(rows, self.policy_rng).tolist()
            bits = policy.payload_bits(rows).tolist()
            accepted = policy.accepted(rows).tolist()
            ks = policy.truncation_k(rows).tolist()
            cum_acc = np.concatenate(([0.0], np.cumsum(self.trace.accepted[rows])))
            cum_pi = np.concatenate(([0.0], np.cumsum(self.trace.accept_prob[rows])))
            for i, row in enumerate(rows.tolist()):
                yield env.timeout(gaps[i])
                if not tx[i]:
                    rec.skipped_run(
                        dev, env.now, tau, 1, cum_acc, cum_pi, i, rows if rec.log_tokens else None
                    )
                    continue
                job = Job(env, dev, row, bits[i])
                job.accepted, job.k, job.t_start = accepted[i], ks[i], env.now
                if self.priority_key is not None:
                    job.priority = float(self.priority_key[row])
                job.done.callbacks.append(lambda _ev, job=job: rec.sent(job, tau))
                if tau > 0:
                    env.timeout(tau).callbacks.append(lambda _ev, job=job: self.submit(job))
                else:
                    self.submit(job)
