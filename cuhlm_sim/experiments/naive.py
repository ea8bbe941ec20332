r"""Naive SimPy references of the cells the benchmark times: the same system, built plainly.

What a first implementation of a bench cell looks like, so that a speed ratio compares two
models of the same cell (issue 16): one process per device and one ``timeout`` per drafted
token; the skip decision of each token from the same trace row (``u_count <= c(u_th)`` on the
grid); the uplink as a process doing fluid processor sharing (each of the N active payloads
sends at :math:`(W/N)\,\eta_d` bit/s, recomputed at every arrival and departure); and the GPU
as a ``simpy.Resource`` (request, hold for t(1), release) when the cell does not batch, or,
when it does, one server process per GPU that takes a job from a ``simpy.Store`` plus up to
``max_batch - 1`` more that are waiting and holds for t(b). Results return after the downlink
delay. Everything is re-derived here from the scenario's definitions (docs/theory.md,
docs/metrics.md); nothing is imported from ``cuhlm_sim.model`` but the random streams of the
trace offsets, start times and think times, which are the scenario's definition of those
draws (``model/rng.py``).

Per-token times follow ``devices.slm_latency_dist`` / ``server.llm_latency_dist`` when the
scenario has them (else ``fixed``): ``fixed`` = the configured mean; ``lognormal`` with mean
m and coefficient of variation cv: :math:`\sigma^2 = \ln(1 + cv^2)`, :math:`\mu = \ln m -
\sigma^2/2`; ``trace`` = the replayed row's recorded ``t_draft_ms`` scaled so that its mean
over the trace is m (the GPU: the mean ``t_target_ms`` of the batch's rows over the trace-wide
mean). A GPU batch takes t(b) times one draw of mean 1 per batch. These draws come from the
reference's own streams (spawn key ``NAIVE_STREAM``), so the two models agree statistically,
not draw by draw.

Rows: a request replays one whole trace sequence from its first row (cut to
``devices.tokens_per_request`` when set); device d starts at sequence ``offset_d`` (one
vectorised draw of ``Stream.TRACE_OFFSET`` over the sequences) and takes the following ones
in turn, as ``model/device_base.py`` does at this revision. A change of that rule must be
mirrored here; tests/experiments/test_naive_reference.py fails until it is.

What the reference does not model raises :class:`NaiveUnsupported`: another arrival mode,
channel, uplink, power model, queue discipline, ``max_wait_s``, or policy than HLM / U-HLM.

Measurement follows docs/metrics.md: a token counts when its commit time lies in
:math:`[T_w, T]`; its latency is commit minus the start of its draft.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.errors import CuhlmError
from cuhlm_sim.model.rng import Stream, stream
from cuhlm_sim.traces.arrays import TraceArrays

#: First spawn-key entry of the reference's own latency streams (far from the model's ids).
NAIVE_STREAM = 1000


class NaiveUnsupported(CuhlmError):
    """The scenario uses something the naive reference does not model."""


class _CountingEnvironment(simpy.Environment):
    def __init__(self) -> None:
        super().__init__()
        self.events = 0

    def step(self) -> None:
        self.events += 1
        super().step()


def _check(scn: Scenario) -> None:
    why = []
    if scn.devices.arrival != "closed":
        why.append(f"devices.arrival {scn.devices.arrival}")
    if scn.channel.model not in ("fixed", "per_device") or scn.channel.rate_model != "shannon":
        why.append(f"channel {scn.channel.model}/{scn.channel.rate_model}")
    if scn.uplink.scheduler != "equal_share" or scn.uplink.power_model != "constant_psd":
        why.append(f"uplink {scn.uplink.scheduler}/{scn.uplink.power_model}")
    if scn.server.discipline != "fifo" or scn.server.max_wait_s > 0:
        why.append("server discipline other than fifo, or max_wait_s > 0")
    if scn.policy.kind not in ("hlm", "uhlm"):
        why.append(f"policy {scn.policy.kind}")
    if why:
        raise NaiveUnsupported("naive reference: not modelled: " + "; ".join(why))


def batch_time(scn: Scenario, b: int) -> float:
    """t(b) [s] of the scenario's batch-latency model, from its definition."""
    s = scn.server
    if s.latency_model == "affine":
        return s.llm_latency_s + s.batch_per_item_s * (b - 1)
    from cuhlm_sim.config.profiles import PROFILES

    table = PROFILES[s.profile].table if s.profile else s.latency_table
    xs = [float(x) for x, _ in table]
    ys = [float(y) for _, y in table]
    if b > xs[-1] and len(xs) >= 2:
        return ys[-1] + (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]) * (b - xs[-1])
    return float(np.interp(b, xs, ys))


def _sampler(
    dist: str, cv: float, mean: float, recorded: np.ndarray | None, rng: np.random.Generator
) -> Callable[[Any], float]:
    """``f(rows)`` -> one time of mean ``mean``: fixed, lognormal(cv), or the rows' recorded
    times scaled to ``mean`` over the trace (the mean of several rows for a batch)."""
    if dist == "fixed":
        return lambda rows: mean
    if dist == "lognormal":
        sigma2 = math.log1p(cv * cv)
        mu, sigma = math.log(mean) - sigma2 / 2, math.sqrt(sigma2)
        return lambda rows: math.exp(mu + sigma * rng.standard_normal())
    if dist == "trace":
        if recorded is None:
            raise NaiveUnsupported("naive reference: a `trace` latency needs recorded times")
        scale = mean / float(np.mean(recorded))
        return lambda rows: scale * float(np.mean(recorded[rows]))
    raise NaiveUnsupported(f"naive reference: latency distribution {dist!r}")


def run_naive(scn: Scenario, trace: TraceArrays, *, count_events: bool = False) -> dict[str, Any]:
    """Simulate ``scn`` on ``trace`` (the trace the run replays) the naive way; returns the
    window's tokens, throughput, skip rate, mean token latency and the events processed."""
    _check(scn)
    env: simpy.Environment = _CountingEnvironment() if count_events else simpy.Environment()
    dev, srv = scn.devices, scn.server
    n_dev, n_rows, seed = dev.count, trace.num_rows, scn.seed
    t_w, t_end = scn.warmup_s, scn.warmup_s + scn.duration_s

    # skip decisions: U-HLM skips u <= u_th, decided on the integer grid (docs/theory.md)
    if scn.policy.kind == "hlm":
        transmit = [True] * n_rows
    elif trace.u_count is not None:
        c = math.floor(scn.policy.threshold * trace.u_draws + 1e-9)
        transmit = (trace.u_count > c).tolist()
    else:
        transmit = (trace.uncertainty > np.float32(scn.policy.threshold)).tolist()
    vocab = scn.payload.vocab_size or trace.vocab_size
    per_entry = scn.payload.prob_bits + (
        math.ceil(math.log2(vocab)) if scn.payload.encoding == "indexed" else 0
    )
    bits = vocab * per_entry + scn.payload.overhead_bits
    # each device's SNR: the channel's, a listed one, or one draw from its CHANNEL stream
    ch = scn.channel
    snr = [ch.snr_db] * n_dev
    if ch.model == "per_device":
        if ch.snr_db_list is not None:
            snr = list(ch.snr_db_list)
        elif ch.spread == "uniform" and ch.spread_db > 0:
            lo, hi = ch.snr_db - ch.spread_db, ch.snr_db + ch.spread_db
            snr = [stream(seed, Stream.CHANNEL, d).uniform(lo, hi) for d in range(n_dev)]
        elif ch.spread == "normal" and ch.spread_db > 0:
            snr = [
                stream(seed, Stream.CHANNEL, d).normal(ch.snr_db, ch.spread_db)
                for d in range(n_dev)
            ]
    etas = []
    for x in snr:  # Shannon with gap and cap, times (1 - BLER)
        e = math.log2(1 + 10 ** ((x - ch.snr_gap_db) / 10))
        if ch.max_spectral_efficiency is not None:
            e = min(e, ch.max_spectral_efficiency)
        etas.append(e * (1 - ch.harq_bler))
    bandwidth, downlink = scn.uplink.bandwidth_hz, scn.downlink.latency_s

    slm_dist = getattr(dev, "slm_latency_dist", "fixed")
    llm_dist = getattr(srv, "llm_latency_dist", "fixed")
    gpu_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(NAIVE_STREAM, 1)))
    gpu_factor = _sampler(
        llm_dist, getattr(srv, "llm_latency_cv", 0.0), 1.0, trace.t_target_ms, gpu_rng
    )
    extra_s = dev.uncertainty_latency_s

    stats = {"tokens": 0, "sent": 0, "latency": 0.0}

    def count(start: float, sent: bool) -> None:
        now = env.now
        if t_w <= now <= t_end:
            stats["tokens"] += 1
            stats["sent"] += sent
            stats["latency"] += now - start

    # --- uplink: fluid processor sharing ---------------------------------------------------
    arrivals = simpy.Store(env)
    gpu_queue = simpy.Store(env)

    def uplink() -> Generator[simpy.Event, Any, None]:
        active: list[list[Any]] = []  # [bits left, spectral efficiency, job]
        last = env.now
        get = arrivals.get()
        while True:
            if active:
                share = bandwidth / len(active)  # Hz each
                soonest = min(a[0] / (share * a[1]) for a in active)
                yield env.any_of([get, env.timeout(soonest)])
                for a in active:
                    a[0] -= (env.now - last) * share * a[1]
            else:
                yield get
            last = env.now
            if get.triggered:
                job = get.value
                active.append([float(bits), etas[job["device"]], job])
                get = arrivals.get()
            # done = what is left takes less than the clock's resolution to send
            share, now = bandwidth / max(1, len(active)), env.now
            done = [a for a in active if now + a[0] / (share * a[1]) <= now]
            if done:
                active = [a for a in active if now + a[0] / (share * a[1]) > now]
                for _, _, job in done:
                    gpu_queue.put(job)

    env.process(uplink())

    # --- GPU -------------------------------------------------------------------------------
    def finish(batch: list[dict[str, Any]]) -> None:
        """Results return after the downlink delay (one timer per batch)."""
        ev = env.timeout(downlink)
        ev.callbacks.append(lambda _e: [job["done"].succeed() for job in batch])

    if srv.max_batch == 1:
        gpu = simpy.Resource(env, capacity=srv.gpus)

        def verify(job: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
            with gpu.request() as req:
                yield req
                yield env.timeout(batch_time(scn, 1) * gpu_factor(job["row"]))
            finish([job])

        def forward() -> Generator[simpy.Event, Any, None]:
            while True:
                job = yield gpu_queue.get()
                env.process(verify(job))

        env.process(forward())
    else:
        # one GPU at a time waits for work, so the first idle GPU takes every job waiting
        turn = simpy.Resource(env, capacity=1)

        def server() -> Generator[simpy.Event, Any, None]:
            while True:
                with turn.request() as req:
                    yield req
                    batch = [(yield gpu_queue.get())]
                    while gpu_queue.items and len(batch) < srv.max_batch:
                        batch.append(gpu_queue.items.pop(0))
                rows = [job["row"] for job in batch]
                yield env.timeout(batch_time(scn, len(batch)) * gpu_factor(rows))
                finish(batch)

        for _ in range(srv.gpus):
            env.process(server())

    # --- devices ----------------------------------------------------------------------------
    n_seq = trace.num_sequences
    seq_start = trace.seq_start.tolist()
    offsets = stream(seed, Stream.TRACE_OFFSET).integers(n_seq, size=n_dev).tolist()
    spread = dev.start_spread_s
    starts = (
        stream(seed, Stream.START).uniform(0, spread, size=n_dev).tolist()
        if spread > 0
        else [0.0] * n_dev
    )

    def device(d: int) -> Generator[simpy.Event, Any, None]:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(NAIVE_STREAM, 2, d)))
        slm = _sampler(
            slm_dist, getattr(dev, "slm_latency_cv", 0.0), dev.slm_latency_s, trace.t_draft_ms, rng
        )
        think = stream(seed, Stream.THINK, d)
        seq = offsets[d] % n_seq
        cut = dev.tokens_per_request
        if starts[d] > 0:
            yield env.timeout(starts[d])
        while True:
            lo, hi = seq_start[seq], seq_start[seq + 1]
            seq = (seq + 1) % n_seq
            for row in range(lo, hi if cut is None else min(hi, lo + cut)):
                t0 = env.now
                yield env.timeout(slm(row) + extra_s)
                if transmit[row]:
                    job = {"device": d, "row": row, "done": env.event()}
                    arrivals.put(job)
                    yield job["done"]
                count(t0, transmit[row])
            mean = dev.think_time_s
            if mean > 0:
                gap = mean if dev.think_time_dist == "fixed" else float(think.exponential(mean))
                yield env.timeout(gap)

    for d in range(n_dev):
        env.process(device(d))
    env.run(until=math.nextafter(t_end, math.inf))
    n = stats["tokens"]
    return {
        "tokens": n,
        "throughput_tokens_per_s": n / scn.duration_s,
        "skip_rate": 1 - stats["sent"] / n if n else math.nan,
        "mean_token_latency_s": stats["latency"] / n if n else math.nan,
        "events": getattr(env, "events", None),
        "sim_time_s": env.now,
    }
