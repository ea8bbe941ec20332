"""The naive SimPy reference model the benchmark compares against.

What a first implementation looks like: one process per device, one ``timeout`` per token,
a shared ``simpy.Resource`` for the GPU (request, timeout, release per verified token), and a
fixed uplink delay per transmission. It replays the same skip decisions (u <= u_th on the same
trace), so token counts and skip rates match the real model's. It lives in the package (not
beside it) so that ``cuhlm bench`` works from an installed copy, not only from a checkout.
"""

from __future__ import annotations

import numpy as np
import simpy


def run_naive(
    uncertainty: np.ndarray,
    threshold: float,
    num_devices: int,
    tokens_per_device: int,
    slm_latency_s: float,
    llm_latency_s: float,
    uplink_s: float,
    gpus: int,
    seed: int = 0,
) -> dict[str, float]:
    env = simpy.Environment()
    gpu = simpy.Resource(env, capacity=gpus)
    u = uncertainty.tolist()
    n_rows = len(u)
    offsets = np.random.default_rng(seed).integers(n_rows, size=num_devices).tolist()
    stats = {"tokens": 0, "sent": 0}

    def device(offset: int):
        for i in range(tokens_per_device):
            yield env.timeout(slm_latency_s)
            if u[(offset + i) % n_rows] > threshold:
                yield env.timeout(uplink_s)
                with gpu.request() as req:
                    yield req
                    yield env.timeout(llm_latency_s)
                stats["sent"] += 1
            stats["tokens"] += 1

    for off in offsets:
        env.process(device(off))
    env.run()
    return {
        "tokens": stats["tokens"],
        "skip_rate": 1 - stats["sent"] / stats["tokens"],
        "sim_time_s": env.now,
    }
