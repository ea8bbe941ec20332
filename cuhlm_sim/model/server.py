r"""The base station's GPU verification server: a queue, dynamic batching, several GPUs.

A batch of b verifications takes t(b), from the batch-latency model ``server.latency_model``
(``BATCH_LATENCIES``): affine :math:`t(b) = t_1 + c\,(b - 1)` (``server.llm_latency_s``,
``server.batch_per_item_s``) or a table. Jobs wait in the queue of ``server.discipline``
(``DISCIPLINES``): first come first served, or by a per-row priority. An idle GPU starts at once
with what is queued (up to ``max_batch``), or, with ``max_wait_s > 0``, waits until the batch
is full or the oldest job has waited ``max_wait_s``. The commit time of every job is known when
its batch starts, so the device's wake-up is scheduled right then; the only server event is
"GPU free again".
"""

from __future__ import annotations

import heapq
import math
from collections import deque

import numpy as np

from cuhlm_sim.model.environment import Environment
from cuhlm_sim.model.job import Job
from cuhlm_sim.model.params import (
    AffineServerParams,
    PolicyParams,
    ServerParams,
    TableServerParams,
)
from cuhlm_sim.model.policies.ihlm import importance_scores
from cuhlm_sim.model.recording import Recorder
from cuhlm_sim.model.registry import Registry
from cuhlm_sim.model.timing import TimeFactors
from cuhlm_sim.traces.arrays import TraceArrays

# --- batch latency t(b) ----------------------------------------------------------------------

#: ``server.latency_model`` -> t(b) [s] at float64 batch sizes b (from the server params).
BATCH_LATENCIES: Registry[np.ndarray] = Registry("batch-latency model")


@BATCH_LATENCIES.register("affine")
def affine_latency(params: AffineServerParams, b: np.ndarray) -> np.ndarray:
    """:math:`t(b) = t_1 + c (b - 1)`."""
    return params.llm_latency_s + params.batch_per_item_s * (b - 1)


@BATCH_LATENCIES.register("table")
def table_latency(params: TableServerParams, b: np.ndarray) -> np.ndarray:
    """Piecewise-linear interpolation in the (b, t) points, extrapolated linearly from the last
    two beyond the table."""
    xs = np.array([p[0] for p in params.latency_table], dtype=np.float64)
    ys = np.array([p[1] for p in params.latency_table], dtype=np.float64)
    t = np.interp(b, xs, ys)
    if xs.size >= 2:
        slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
        beyond = b > xs[-1]
        t[beyond] = ys[-1] + slope * (b[beyond] - xs[-1])
    return t


def batch_latency_table(params: ServerParams) -> list[float]:
    """t(b) [s] for b = 0..max_batch (index 0 unused), looked up once per run."""
    b = np.arange(params.max_batch + 1, dtype=np.float64)
    return BATCH_LATENCIES.create(params.latency_model, params, b).tolist()


# --- queue disciplines -----------------------------------------------------------------------

#: ``server.discipline`` -> GPU queue class. Its ``row_priority`` gives the priority of each
#: trace row (None: the queue ignores priorities), which the devices stamp on their jobs.
DISCIPLINES: Registry[FifoQueue | PriorityQueue] = Registry("GPU queue discipline")


@DISCIPLINES.register("fifo")
class FifoQueue:
    """First come, first served."""

    @staticmethod
    def row_priority(trace: TraceArrays, policy: PolicyParams) -> np.ndarray | None:
        return None

    def __init__(self) -> None:
        self._q: deque[Job] = deque()
        self.push = self._q.append

    def __len__(self) -> int:
        return len(self._q)

    def take(self, b: int) -> list[Job]:
        """The first ``b`` jobs, removed from the queue."""
        q = self._q
        if b >= len(q):
            batch = list(q)
            q.clear()
            return batch
        pop = q.popleft
        return [pop() for _ in range(b)]

    def oldest_arrival(self) -> float:
        return self._q[0].t_gpu_arrive


class PriorityQueue:
    """Highest ``job.priority`` first; equal priorities in arrival order."""

    @staticmethod
    def row_priority(trace: TraceArrays, policy: PolicyParams) -> np.ndarray:
        raise NotImplementedError

    def __init__(self) -> None:
        self._h: list[tuple[float, int, Job]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._h)

    def push(self, job: Job) -> None:
        self._seq += 1
        heapq.heappush(self._h, (-job.priority, self._seq, job))

    def take(self, b: int) -> list[Job]:
        """The ``b`` highest-priority jobs, removed from the queue."""
        return [heapq.heappop(self._h)[2] for _ in range(b)]

    def oldest_arrival(self) -> float:
        return min(item[2].t_gpu_arrive for item in self._h)


@DISCIPLINES.register("priority_uncertainty")
class UncertaintyFirstQueue(PriorityQueue):
    """The most uncertain draft first."""

    @staticmethod
    def row_priority(trace: TraceArrays, policy: PolicyParams) -> np.ndarray:
        return trace.uncertainty


@DISCIPLINES.register("priority_importance")
class ImportanceFirstQueue(PriorityQueue):
    """The most important draft first (``policy.importance_source`` gives the scores)."""

    @staticmethod
    def row_priority(trace: TraceArrays, policy: PolicyParams) -> np.ndarray:
        return importance_scores(trace, policy)


class GpuServer:
    """``factors`` (:mod:`cuhlm_sim.model.timing`) multiply each batch's t(b) by one draw;
    None keeps t(b) exact."""

    def __init__(
        self,
        env: Environment,
        params: ServerParams,
        recorder: Recorder,
        factors: TimeFactors | None = None,
    ) -> None:
        self.env = env
        self._factors = factors
        self.params = params
        self.recorder = recorder
        self._queue = DISCIPLINES.create(params.discipline)
        self._idle = params.gpus
        self._wait_timer_at = math.inf
        self._latency = batch_latency_table(params)

    @property
    def queue_length(self) -> int:
        """Jobs waiting for a GPU now (what a state-aware policy sees, ``DeviceState``)."""
        return len(self._queue)

    def submit(self, jobs: list[Job]) -> None:
        """Queue jobs that arrive together (one call per group, not per job)."""
        now = self.env.now
        push = self._queue.push
        for job in jobs:
            job.t_gpu_arrive = now
            push(job)
        self.recorder.gpu_queue.arrive(now, len(jobs))
        if self._idle:
            self._dispatch()

    def _dispatch(self) -> None:
        env, q, p = self.env, self._queue, self.params
        while self._idle and q:
            now = env.now
            if p.max_wait_s > 0 and len(q) < p.max_batch:
                start_at = q.oldest_arrival() + p.max_wait_s
                if now < start_at:
                    if start_at < self._wait_timer_at:
                        self._wait_timer_at = start_at
                        env.call_later(start_at - now, self._on_wait_timer)
                    return
            b = min(len(q), p.max_batch)
            batch = q.take(b)
            self.recorder.gpu_queue.depart(now, b)
            service = self._latency[b]
            if self._factors is not None:
                service *= self._factors.per_batch(batch)
            end = now + service
            commit_delay = service + p.downlink_latency_s
            commit = end + p.downlink_latency_s
            for job in batch:
                job.t_gpu_start = now
                job.t_gpu_end = end
                job.t_commit = commit
            self._idle -= 1
            self.recorder.gpu_batch(now, end, b)
            # All results of a batch return together: one event for the whole batch, and
            # without downlink latency the same event also frees the GPU.
            if commit_delay == service:
                env.call_later(service, self._on_gpu_free_and_commit, batch)
                continue
            env.call_later(service, self._on_gpu_free)
            env.call_later(commit_delay, self._commit, batch)

    def _commit(self, batch: list[Job]) -> None:
        self.recorder.sent(batch)
        now = self.env.now
        for job in batch:
            job.on_done(job, now)

    def _on_gpu_free_and_commit(self, batch: list[Job]) -> None:
        # The order of two events at one instant: GPU free first, then the commit.
        self._on_gpu_free()
        self._commit(batch)

    def _on_wait_timer(self, _: None = None) -> None:
        if self.env.now >= self._wait_timer_at:
            self._wait_timer_at = math.inf
        self._dispatch()

    def _on_gpu_free(self, _: None = None) -> None:
        self._idle += 1
        self._dispatch()
