"""Streaming collection of what happens inside the measurement window [warmup, end].

The model calls the recorder (it knows only :class:`cuhlm_sim.model.recording.Recorder`, which
this class implements); the recorder never calls the model. Devices book whole blocks of tokens
at once (skips with :meth:`Recorder.skipped_block`, verified tokens with the ledger's
:meth:`~cuhlm_sim.metrics.ledger.TokenLedger.book_sent`) and take back what commits outside the
window; a skip run that crosses a window edge comes as a whole run
(count, first commit time, spacing), so it costs O(1), not O(run length). The times of a
verified token are booked when its GPU batch commits (:meth:`Recorder.sent`).
Per-token rows are kept only with ``log_tokens``; otherwise memory is a few counters per
device plus four bounded samples (verified-token latency, GPU wait, request latency, time per
output token) and the batch means of 5 verified-token latencies that MSER-5 reads
(:mod:`cuhlm_sim.metrics.steady`, two floats per 5 tokens).
"""

from __future__ import annotations

import numpy as np

from cuhlm_sim.metrics.ledger import SKIP, TokenLedger
from cuhlm_sim.metrics.sample import BoundedSample, SignedSample
from cuhlm_sim.metrics.stages import Stage
from cuhlm_sim.metrics.steady import LatencySeries
from cuhlm_sim.metrics.window import Window

# Stage indices as plain ints: sent() adds to the stage sums per batch, where looking up an
# enum member would cost about 1 µs each time.
_SLM, _UPLINK_QUEUE, _AIRTIME = int(Stage.SLM), int(Stage.UPLINK_QUEUE), int(Stage.AIRTIME)
_GPU_QUEUE, _GPU_SERVICE = int(Stage.GPU_QUEUE), int(Stage.GPU_SERVICE)
_DOWNLINK = int(Stage.DOWNLINK)


class LevelIntegrator:
    """Time integral of a level (jobs in a queue) inside the window, and arrivals counted
    in the window: mean level L = area / T and arrival rate λ = arrivals / T (Little's law).

    Kept in sum-of-times form so each arrival or departure is one addition: with
    s = Σ departure times − Σ arrival times, the integral from 0 to T is s + level·T. The
    window's share is the difference of two such readings, taken by :meth:`open` at the
    window start and :meth:`close` at its end.
    """

    __slots__ = ("_a0", "_n0", "area", "arrivals", "level", "s", "total_arrivals")

    def __init__(self) -> None:
        self.level = 0
        self.s = 0.0
        self.total_arrivals = 0
        self._a0 = 0.0
        self._n0 = 0
        self.area = 0.0  # ∫ level dt over the window [jobs·s], set by close()
        self.arrivals = 0  # arrivals inside the window, set by close()

    def arrive(self, now: float, n: int = 1) -> None:
        self.s -= n * now
        self.level += n
        self.total_arrivals += n

    def depart(self, now: float, n: int = 1) -> None:
        self.s += n * now
        self.level -= n

    def open(self, now: float) -> None:
        self._a0 = self.s + self.level * now
        self._n0 = self.total_arrivals

    def close(self, now: float) -> None:
        self.area = self.s + self.level * now - self._a0
        self.arrivals = self.total_arrivals - self._n0


class Recorder:
    def __init__(
        self, window_start_s: float, window_end_s: float, num_devices: int, log_tokens: bool
    ) -> None:
        #: Which tokens and which time count: the only place the window rule lives.
        self.window = Window(window_start_s, window_end_s)
        self.log_tokens = log_tokens
        self.num_devices = num_devices
        #: What in-window tokens add to the counters (set by :meth:`attach`; None only when
        #: a component is tested alone and no token counters are read).
        self.ledger: TokenLedger | None = None
        # skipped tokens: their latency is their drafting time; constant times are counted
        # per distinct τ, jittered ones kept as values (booked and taken back like the ledger)
        self.skip_latency: dict[float, int] = {}
        self.skip_latency_jittered = SignedSample()
        # transmitted (verified) tokens
        self.sent_latency = BoundedSample()
        # requests whose last token commits inside the window
        self.request_latency = BoundedSample()
        # time per output token of those requests (the ones that report their first commit)
        self.tpot = BoundedSample()
        # in-window verified-token latencies in commit order, as batch means of 5 (MSER-5)
        self.latency_series = LatencySeries()
        self.stage_sums = [0.0] * len(Stage)  # indexed by Stage
        # shared resources
        self.gpu_busy_s = 0.0
        self.n_batches = 0
        self.batch_items = 0
        self.batch_size_counts: dict[int, int] = {}
        self.uplink_busy_s = 0.0
        # Per-device sums updated per token: lists (cheaper per update than numpy scalars).
        self._device_uplink_queue_s = [0.0] * num_devices
        self._slot_airtime_s = np.zeros(num_devices)  # slotted uplink: whole slots
        self._fluid_airtime_s = [0.0] * num_devices  # fluid uplink: per payload
        # Transmit energy of in-window verified tokens: the time their devices actually sent
        # (Σ Job.tx_air_s) and the radiated energy over P_tx (Σ Job.radiated_s, ∫ P_n/P_tx
        # dt), as set by the uplink's power model. Totals only: two additions per token.
        self.tx_air_s = 0.0
        self.radiated_s = 0.0
        self.device_rbs = np.zeros(num_devices, dtype=np.int64)
        self.total_rbs = 0
        self.gpu_waits = BoundedSample()
        self.gpu_queue = LevelIntegrator()
        self.uplink_active = LevelIntegrator()
        if window_start_s <= 0:
            self.open_window(0.0)
        # per-token log, as column chunks
        self._log: list[dict[str, np.ndarray]] = []

    def attach(self, policy, trace) -> TokenLedger:
        """Build the run's :class:`TokenLedger` from the policy's per-row decisions."""
        self.ledger = TokenLedger.for_policy(policy, trace, self.num_devices)
        return self.ledger

    def request_done(self, start: float, first: float, end: float, tokens: int) -> None:
        """A request of ``tokens`` tokens arrived at ``start`` (closed loop: its first draft
        started), its first token committed at ``first`` and its last at ``end``: its latency,
        and with two tokens or more its time per output token (end − first) / (tokens − 1)."""
        if self.window.contains(end):
            self.request_latency.append(end - start)
            self.request_latency.fold_if_full()
            if tokens > 1:
                self.tpot.append((end - first) / (tokens - 1))
                self.tpot.fold_if_full()

    def open_window(self, now: float) -> None:
        """Called once at the window start: level integrals count from here."""
        self.gpu_queue.open(now)
        self.uplink_active.open(now)

    def close_window(self, now: float) -> None:
        self.gpu_queue.close(now)
        self.uplink_active.close(now)

    # -- skipped tokens -------------------------------------------------------------------
    def skipped_block(self, device: int, sums: np.ndarray, latency: float | np.ndarray) -> None:
        """Add skipped tokens with :data:`~cuhlm_sim.metrics.ledger.SKIP` sums ``sums`` (count
        first) as if all commit inside the window; ``latency`` is their common drafting time
        τ, or each one's (jittered) time.

        Devices book a whole block of skips at once and send the runs that turn out to lie
        (partly) outside the window through :meth:`skipped_run`, taking the block booking back
        with negative sums (and the same latencies), so the common case costs nothing per run.
        """
        self.ledger.book_skips(device, sums)
        count = round(sums[0])
        if isinstance(latency, float):
            lat = self.skip_latency
            lat[latency] = lat.get(latency, 0) + count
        elif count:
            self.skip_latency_jittered.book(latency, 1 if count > 0 else -1)

    def skipped_run(
        self,
        device: int,
        commits: np.ndarray,
        latency: float | np.ndarray,
        cums: np.ndarray,
        pos: int,
        rows: np.ndarray | None = None,
    ) -> None:
        """Skipped tokens at block positions pos..pos+len(commits)-1 committing at ``commits``
        (non-decreasing), each taking ``latency`` (τ, or one time per token).

        ``cums`` are the block's skip prefix sums (:meth:`TokenLedger.block_skip_prefix`).
        """
        window = self.window
        count = commits.shape[0]
        lo, hi = window.run_range(commits)
        jittered = not isinstance(latency, float)
        if hi > lo:
            self.skipped_block(
                device, cums[pos + hi] - cums[pos + lo], latency[lo:hi] if jittered else latency
            )
        if self.log_tokens and rows is not None:
            keep = commits <= window.end
            n = int(keep.sum())
            if n:
                acc = np.diff(cums[pos : pos + count + 1, SKIP.index("accepted")])[keep] > 0.5
                slm = latency[keep] if jittered else np.full(n, latency)
                self._log.append(
                    {
                        "device": np.full(n, device, dtype=np.int32),
                        "trace_row": rows[pos : pos + count][keep].astype(np.int64),
                        "t_start_s": commits[keep] - slm,
                        "t_commit_s": commits[keep],
                        "sent": np.zeros(n, dtype=bool),
                        "accepted": acc,
                        "payload_bits": np.zeros(n),
                        "k": np.zeros(n, dtype=np.int64),
                        Stage.SLM.key: slm,
                        **{s.key: np.zeros(n) for s in Stage if s is not Stage.SLM},
                    }
                )

    # -- transmitted tokens ---------------------------------------------------------------
    def sent(self, batch) -> None:  # batch: list[cuhlm_sim.model.job.Job]
        """Book the verified tokens of one GPU batch when they commit at their devices.

        All jobs of a batch share the GPU start and end and the commit time, so the window
        test and the GPU-service and downlink sums are per batch; the rest is per job, with
        local accumulators written back once. What is known in advance of a job (count,
        payload, truncation, accept decision) is booked here unless its device booked it
        with its block (``job.prebooked``).
        """
        first = batch[0]
        t = first.t_commit
        if self.log_tokens and t <= self.window.end:
            for job in batch:
                self._log_sent(job)
        if not self.window.contains(t):
            return
        gpu_start, gpu_end = first.t_gpu_start, first.t_gpu_end
        lat_append, wait_append = self.sent_latency.append, self.gpu_waits.append
        s = self.stage_sums
        n = len(batch)
        s[_GPU_SERVICE] += n * (gpu_end - gpu_start)
        s[_DOWNLINK] += n * (t - gpu_end)
        if not first.prebooked and self.ledger is not None:  # else booked with its block
            book = self.ledger.book_sent
            for job in batch:
                book(job.device, [job.row])
        dev_ulq = self._device_uplink_queue_s
        slm = ul_queue = airtime = gpu_queue = tx_air = radiated = 0.0
        lats = []
        for job in batch:
            lat = t - job.t_start
            lat_append(lat)
            lats.append(lat)
            wait = gpu_start - job.t_gpu_arrive
            gpu_queue += wait
            wait_append(wait)
            slm += job.slm_s
            ul_start = job.t_ul_start
            queued = ul_start - job.t_ul_arrive  # > 0 only for payloads with bits
            if queued:
                ul_queue += queued
                dev_ulq[job.device] += queued
            airtime += job.t_ul_end - ul_start
            tx_air += job.tx_air_s
            radiated += job.radiated_s
        self.latency_series.extend(t, lats)
        self.tx_air_s += tx_air
        self.radiated_s += radiated
        s[_SLM] += slm
        s[_UPLINK_QUEUE] += ul_queue
        s[_AIRTIME] += airtime
        s[_GPU_QUEUE] += gpu_queue
        self.sent_latency.fold_if_full()
        self.gpu_waits.fold_if_full()

    def _log_sent(self, job) -> None:
        t = job.t_commit
        self._log.append(
            {
                "device": np.array([job.device], dtype=np.int32),
                "trace_row": np.array([job.row], dtype=np.int64),
                "t_start_s": np.array([job.t_start]),
                "t_commit_s": np.array([t]),
                "sent": np.array([True]),
                "accepted": np.array([job.accepted]),
                "payload_bits": np.array([job.bits]),
                "k": np.array([job.k], dtype=np.int64),
                "slm_s": np.array([job.slm_s]),
                "uplink_queue_s": np.array([job.t_ul_start - job.t_ul_arrive]),
                "airtime_s": np.array([job.t_ul_end - job.t_ul_start]),
                "gpu_queue_s": np.array([job.t_gpu_start - job.t_gpu_arrive]),
                "gpu_service_s": np.array([job.t_gpu_end - job.t_gpu_start]),
                "downlink_s": np.array([t - job.t_gpu_end]),
            }
        )

    # -- shared resources -----------------------------------------------------------------
    def gpu_batch(self, start: float, end: float, size: int) -> None:
        window = self.window
        self.gpu_busy_s += window.overlap(start, end)
        if window.contains(start):
            self.n_batches += 1
            self.batch_items += size
            self.batch_size_counts[size] = self.batch_size_counts.get(size, 0) + 1

    def uplink_slot(
        self, start: float, devs: np.ndarray, rbs: np.ndarray, bits: np.ndarray, slot_s: float
    ) -> None:
        """RBs and airtime per device in one slot (slotted uplink only)."""
        if self.window.contains(start):
            self.device_rbs[devs] += rbs
            self._slot_airtime_s[devs] += slot_s
            self.total_rbs += int(rbs.sum())

    def uplink_finished(self, jobs, end: float, idle_from: float | None) -> None:
        """Payloads that finished together on the fluid uplink at ``end``: their airtime (the
        in-window part) and the active count; ``idle_from`` is the start of the busy period
        that ends now if the link went idle, else None."""
        self.uplink_active.depart(end, len(jobs))
        overlap = self.window.overlap
        if idle_from is not None:
            self.uplink_busy_s += overlap(idle_from, end)
        air = self._fluid_airtime_s
        for job in jobs:
            air[job.device] += overlap(job.t_ul_start, end)

    def uplink_busy(self, start: float, end: float) -> None:
        self.uplink_busy_s += self.window.overlap(start, end)

    # -- results --------------------------------------------------------------------------
    @property
    def device_airtime_s(self) -> np.ndarray:
        """float64 [num_devices]: time on the uplink inside the window [s]."""
        return self._slot_airtime_s + np.asarray(self._fluid_airtime_s)

    @property
    def device_uplink_queue_s(self) -> np.ndarray:
        """float64 [num_devices]: summed wait for the first uplink resource [s]."""
        return np.asarray(self._device_uplink_queue_s, dtype=np.float64)

    @property
    def n_tokens(self) -> int:
        """In-window tokens, skipped and verified."""
        led = self.ledger
        return round(led.skipped("tokens") + led.sent("tokens"))

    def latency_samples(self) -> tuple[np.ndarray, np.ndarray]:
        """(values, weights) of every in-window token latency, skipped runs as weighted points."""
        sent, sent_w = self.sent_latency.weighted()
        skip_vals = np.array(list(self.skip_latency.keys()), dtype=np.float64)
        skip_counts = np.array(list(self.skip_latency.values()), dtype=np.float64)
        jit_vals, jit_w = self.skip_latency_jittered.weighted()
        return np.concatenate([sent, skip_vals, jit_vals]), np.concatenate(
            [sent_w, skip_counts, jit_w]
        )

    def skip_latency_total(self) -> float:
        """Σ drafting time of the in-window skipped tokens [s]."""
        const = sum(k * c for k, c in self.skip_latency.items())
        return const + self.skip_latency_jittered.total()

    def token_log(self) -> dict[str, np.ndarray] | None:
        """Per-token columns sorted by commit time, or None if logging was off."""
        if not self.log_tokens:
            return None
        if not self._log:
            return {}
        cols = {k: np.concatenate([c[k] for c in self._log]) for k in self._log[0]}
        order = np.argsort(cols["t_commit_s"], kind="stable")
        cols = {k: v[order] for k, v in cols.items()}
        cols["in_window"] = self.window.contains_array(cols["t_commit_s"])
        return cols
