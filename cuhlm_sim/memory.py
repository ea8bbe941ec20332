"""How much memory a run will need, known before it starts, and how much the machine has.

A run that cannot fit used to grow until the machine swapped or the kernel killed it
(``devices.count=10000000`` took 12 GB in two minutes with nothing printed). The estimate is a
sum of parts, each a measured constant times what the scenario asks for; a run whose estimate
exceeds the available memory is refused in one line before anything big is allocated.

The constants are upper envelopes of the peak RSS growth of real runs (``ru_maxrss`` minus the
RSS before the run, in a fresh process started from a shell, on this project's Linux/CPython
3.11 machine; from a big parent, use ``VmHWM``: ``ru_maxrss`` keeps the parent's peak):

* :data:`DEVICE_BYTES`, 30 kB per device: 1,000 / 10,000 / 100,000 devices of
  ``scenarios/default.yaml`` (2 s, no warm-up; lognormal drafting times, per-device SNRs) grew
  24.2 / 24.9 / 24.3 kB per device under Rand-HLM (the largest), 23.1 / 23.9 kB under U-HLM,
  19.4 / 20.3 kB HLM, 17.4 / 18.7 kB SLM-only, 4.6 / 5.6 kB for the state-aware
  ``uhlm_adaptive``; ``scenarios/dense_cell.yaml`` (slotted PF uplink, path loss, fading,
  mobility) 15.5 / 15.8 kB and ``scenarios/energy_aware.yaml`` 21.8 / 20.6 kB at 1,000 /
  10,000 devices. Mostly each device's block of up to 1,024 trace rows, its time factors and
  generators; it does not grow with the simulated time (10,000 devices, Rand-HLM: 24.9 kB per
  device at 2 s and at 30 s).
* :data:`TRACE_ROW_BYTES`, 1.1 kB per trace row to load a trace: a 1,000,000-row synthetic
  file peaked at 1.06 kB per row (float64 columns and four per-k columns of 18 values).
* :data:`RUN_ROW_BYTES`, 700 B per trace row during the run (the token ledger's per-row
  tables and prefix sums, the policy's per-row columns, the time factors): 402 and 596 B per
  row with 1 and 4 million rows. The shared block plans (``model/blocks.py``) add about 50 B
  per row replayed under U-HLM (2,000 devices over a 1,000,000-row synthetic trace grew 328 B
  per row with them, 278 B before them) and at most ~75 B under HLM, whose plans list every
  row as sent: still inside the envelope.
* :data:`LOG_SENT_BYTES` / :data:`LOG_SKIP_BYTES`, ``--log-tokens``: 2.6 kB per verified and
  0.35 kB per skipped token (100 devices, 100 s: HLM 1,392 tokens +3.6 MB, SLM-only 111,402
  tokens +33.5 MB, both including the final concatenation; after the jittered-time model,
  1,407 tokens +2.3 MB and 110,116 tokens +31.7 MB).
* :data:`QUEUED_BYTES`, 0.85 kB per token of an open-loop (``devices.arrival: poisson``) run,
  whose drafts may all wait in a queue: 100 devices at 100 and 10 tokens/s for 100 s grew
  0.70 and 0.84 kB per arrival.
* :data:`BATCH_SIZE_BYTES`, 48 B per batch size up to ``server.max_batch``: the GPU server
  tabulates t(b) for every b once per run (a float64 array and a list of Python floats).
* :data:`FIXED_BYTES`, 64 MB: the three bounded latency samples (8 MiB of exact values each
  before they fold into a histogram) and their copies when summarised.

Token counts are upper bounds: a device drafts at most one token per ``token_time_s`` (or
``arrival_rate_per_s`` when open-loop), and the GPUs verify at most
``gpus · max_b b / t(b)`` tokens per second (both times have mean 1 factors when jittered).
The estimate therefore errs high (by about 5x for ``uhlm_adaptive``), never low by much.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cuhlm_sim.errors import CuhlmError
from cuhlm_sim.model.params import SimParams
from cuhlm_sim.model.server import BATCH_LATENCIES

DEVICE_BYTES = 30_000
TRACE_ROW_BYTES = 1_100
RUN_ROW_BYTES = 700
LOG_SENT_BYTES = 2_600
LOG_SKIP_BYTES = 350
QUEUED_BYTES = 850
BATCH_SIZE_BYTES = 48
FIXED_BYTES = 64_000_000

#: What each part of an estimate is named after: the key or option that makes it grow.
PART_FIELDS = {
    "devices": "devices.count",
    "trace rows": "trace.path",
    "token log": "--log-tokens",
    "queued drafts": "devices.arrival_rate_per_s",
    "samples": "duration_s",
    "batch sizes": "server.max_batch",
}

#: What to change when a part does not fit.
ADVICE = {
    "devices": "use fewer devices",
    "trace rows": "use a shorter trace",
    "token log": "drop --log-tokens or shorten duration_s",
    "queued drafts": "lower devices.arrival_rate_per_s or shorten duration_s",
    "samples": "free some memory",
    "batch sizes": "lower server.max_batch",
}


class RunTooLargeError(CuhlmError):
    """The estimated memory of a run exceeds what the machine has available."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per part (``devices``, ``trace rows``, ``token log``, ...) and their sum;
    ``fields`` names the key or option behind each part (default :data:`PART_FIELDS`)."""

    parts: dict[str, float] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=lambda: dict(PART_FIELDS))

    @property
    def total(self) -> float:
        return float(sum(self.parts.values()))

    def largest(self) -> str:
        return max(self.parts, key=lambda k: self.parts[k])

    def describe(self) -> str:
        """``'2.1 GB (devices 1.9 GB, trace rows 120 MB)'``, biggest part first, parts
        under 1 % of the total left out."""
        shown = sorted(
            (k for k, v in self.parts.items() if v >= 0.01 * self.total),
            key=lambda k: -self.parts[k],
        )
        inner = ", ".join(f"{k} {format_bytes(self.parts[k])}" for k in shown)
        return f"{format_bytes(self.total)} ({inner})"


def format_bytes(n: float) -> str:
    """Decimal units, three significant digits: 950 kB, 12.3 MB, 201 GB."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    """Bytes left under this process's cgroup v2 memory limit, if it has one."""
    try:
        with open("/proc/self/cgroup", encoding="ascii") as f:
            rel = next((ln.split("::", 1)[1].strip() for ln in f if ln.startswith("0::")), None)
        if rel is None:
            return None
        base = Path("/sys/fs/cgroup") / rel.lstrip("/")
        limit = (base / "memory.max").read_text(encoding="ascii").strip()
        if limit == "max":
            return None
        used = int((base / "memory.current").read_text(encoding="ascii"))
        return max(0, int(limit) - used)
    except (OSError, ValueError):
        return None


def available_memory() -> int | None:
    """Bytes this process can still allocate without swapping: psutil's ``available`` (a
    dependency), else, in an environment without it, ``MemAvailable`` of /proc/meminfo, else
    ``os.sysconf`` free pages; capped by a cgroup v2 limit. None when the platform tells
    none of these (the check is then skipped)."""
    found: int | None = None
    try:
        import psutil
    except ImportError:
        found = _meminfo_available()
    else:
        found = int(psutil.virtual_memory().available)
    if found is None:
        with contextlib.suppress(ValueError, OSError, AttributeError):
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    room = _cgroup_room()
    if room is not None:
        found = room if found is None else min(found, room)
    return found


def _gpu_tokens_per_s(params: SimParams) -> float:
    """Most verifications per second the GPUs can do: gpus · max over b of b / t(b)."""
    server = params.server
    b = np.unique(np.r_[np.arange(1, min(server.max_batch, 1024) + 1), server.max_batch])
    t = BATCH_LATENCIES.create(server.latency_model, server, b.astype(np.float64))
    return server.gpus * float(np.max(b / np.maximum(t, 1e-12)))


def estimate_trace(rows: int, trace_field: str = "trace.path") -> MemoryEstimate:
    """Memory to load or synthesise a trace of ``rows`` rows alone (``traces synth``: 0.96 kB
    per row measured for 1,000,000 rows, within :data:`TRACE_ROW_BYTES`)."""
    fields = {**PART_FIELDS, "trace rows": trace_field}
    return MemoryEstimate({"trace rows": float(rows) * TRACE_ROW_BYTES}, fields)


def estimate_setup(devices: int, rows: int, trace_field: str = "trace.path") -> MemoryEstimate:
    """What is known before the trace is loaded: loading (or synthesising) its ``rows`` rows
    and the run's per-row tables, the ``devices``, the samples. Checked first, so an
    impossible run is refused before anything big is allocated."""
    parts = {
        "samples": float(FIXED_BYTES),
        "devices": float(devices) * DEVICE_BYTES,
        "trace rows": float(rows) * (TRACE_ROW_BYTES + RUN_ROW_BYTES),
    }
    return MemoryEstimate(parts, {**PART_FIELDS, "trace rows": trace_field})


def estimate_run(params: SimParams, rows: int, trace_field: str = "trace.path") -> MemoryEstimate:
    """Memory a run of ``params`` on a loaded trace of ``rows`` rows adds (module docstring)."""
    dev = params.devices
    end = params.end_s
    mode = params.policy.kind
    open_loop = dev.arrival == "poisson"
    per_device = dev.arrival_rate_per_s if open_loop else 1.0 / dev.token_time_s
    drafted = dev.count * end * per_device  # every token a device can start
    if mode == "llm_only":
        drafted = 0.0
    sent_cap = _gpu_tokens_per_s(params) * end
    sent = 0.0 if mode == "slm_only" else min(drafted, sent_cap) if drafted else sent_cap
    parts = {
        "samples": float(FIXED_BYTES),
        "devices": float(dev.count) * DEVICE_BYTES,
        "trace rows": float(rows) * RUN_ROW_BYTES,
        "batch sizes": float(params.server.max_batch + 1) * BATCH_SIZE_BYTES,
    }
    if params.log_tokens:
        # HLM and LLM-only skip nothing: a device's tokens are the verified ones.
        skipped = 0.0 if mode in ("hlm", "llm_only") else max(drafted - sent, 0.0)
        parts["token log"] = sent * LOG_SENT_BYTES + skipped * LOG_SKIP_BYTES
    if open_loop and mode != "slm_only":
        parts["queued drafts"] = drafted * QUEUED_BYTES
    return MemoryEstimate(parts, {**PART_FIELDS, "trace rows": trace_field})


def check_fits(estimate: MemoryEstimate, available: int | None = None) -> None:
    """Refuse (one line, naming the key behind the largest part) an estimate larger than the
    available memory; ``available`` defaults to :func:`available_memory`."""
    if available is None:
        available = available_memory()
    if available is None or estimate.total <= available:
        return
    largest = estimate.largest()
    raise RunTooLargeError(
        f"{estimate.fields.get(largest, largest)}: this run needs about {estimate.describe()} "
        f"of memory and the machine has {format_bytes(available)} available; "
        f"{ADVICE.get(largest, 'make the run smaller')}"
    )
