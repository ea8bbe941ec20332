r"""The base station's GPU verification server: FIFO queue, dynamic batching, several GPUs.

A batch of b verifications takes :math:`t(b) = t_1 + c\,(b - 1)` (``server.llm_latency_s``,
``server.batch_per_item_s``). An idle GPU starts at once with what is queued (up to
``max_batch``), or, with ``max_wait_s > 0``, waits until the batch is full or the oldest job
has waited ``max_wait_s``. The commit time of every job is known when its batch starts, so the
device's wake-up is scheduled right then; the only server event is "GPU free again".
"""

from __future__ import annotations

import math
from collections import deque

import simpy

from cuhlm_sim.metrics.recorder import Recorder
from cuhlm_sim.model.job import Job, succeed_after
from cuhlm_sim.model.params import ServerParams


class GpuServer:
    def __init__(self, env: simpy.Environment, params: ServerParams, recorder: Recorder) -> None:
        self.env = env
        self.params = params
        self.recorder = recorder
        self._queue: deque[Job] = deque()
        self._idle = params.gpus
        self._wait_timer_at = math.inf

    def batch_latency_s(self, b: int) -> float:
        """t(b) [s] for a batch of b verifications."""
        return self.params.llm_latency_s + self.params.batch_per_item_s * (b - 1)

    @property
    def queue_length(self) -> int:
        return len(self._queue)

    @property
    def busy_gpus(self) -> int:
        return self.params.gpus - self._idle

    def submit(self, job: Job) -> None:
        job.t_gpu_arrive = self.env.now
        self._queue.append(job)
        self.recorder.gpu_queue.change(job.t_gpu_arrive, 1)
        if self._idle:
            self._dispatch()

    def _dispatch(self) -> None:
        env, q, p = self.env, self._queue, self.params
        while self._idle and q:
            now = env.now
            if p.max_wait_s > 0 and len(q) < p.max_batch:
                start_at = q[0].t_gpu_arrive + p.max_wait_s
                if now < start_at:
                    if start_at < self._wait_timer_at:
                        self._wait_timer_at = start_at
                        timer = env.timeout(start_at - now)
                        timer.callbacks.append(self._on_wait_timer)
                    return
            b = min(len(q), p.max_batch)
            batch = [q.popleft() for _ in range(b)]
            self.recorder.gpu_queue.change(now, -b)
            service = self.batch_latency_s(b)
            end = now + service
            commit_delay = service + p.downlink_latency_s
            for job in batch:
                job.t_gpu_start = now
                job.t_gpu_end = end
                job.t_commit = end + p.downlink_latency_s
                succeed_after(env, job.done, commit_delay)
            self._idle -= 1
            self.recorder.gpu_batch(now, end, b)
            timer = env.timeout(service)
            timer.callbacks.append(self._on_gpu_free)

    def _on_wait_timer(self, _event: simpy.Event) -> None:
        if self.env.now >= self._wait_timer_at:
            self._wait_timer_at = math.inf
        self._dispatch()

    def _on_gpu_free(self, _event: simpy.Event) -> None:
        self._idle += 1
        self._dispatch()
