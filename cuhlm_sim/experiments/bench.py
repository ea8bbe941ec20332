"""``cuhlm bench``: simulated tokens per wall second and peak memory on fixed scenarios.

Each case runs in a fresh subprocess so that its peak RSS is its own. Cases with a naive
reference (:mod:`cuhlm_sim.experiments.naive`) also run it on exactly the same cell (the same
scenario and trace, the same skip decisions, a GPU that batches like ours when the case
batches) and report our speed as a ratio to it: a ratio counts only between two models of one
cell (issue 16; tests/experiments/test_naive_reference.py checks that the two agree). Wall
times are the best of ``repeat`` runs, for ours and the naive model alike (as ``timeit`` does:
the minimum is the run least disturbed by the rest of the machine). Results go to a JSON file
so commits can be compared.

The full cases replay the real trace (``traces/qwen-coder-0.5b-1.5b.parquet``) and scale the
shipped ``scenarios/default.yaml``, both looked up in the working folder and then beside the
package's source (a checkout); the quick cases use the in-memory synthetic trace and need
neither.

Every wait on a child has a deadline: a child that raises, dies or overruns ``timeout`` ends
the bench with one :class:`BenchError` line naming the case, never a hang.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import queue
import resource
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cuhlm_sim import __version__
from cuhlm_sim.errors import CuhlmError

#: Seconds one child process (one case, ours or naive) may take by default.
DEFAULT_TIMEOUT_S = 900.0


class BenchError(CuhlmError):
    """A bench child failed, died or overran its time: the bench stops with this one line."""

    exit_code = 1  # the machine or the code failed, not the command line


@dataclass(frozen=True)
class BenchCase:
    name: str
    devices: int
    tokens_per_device: int
    policy: str
    skip_target: float | None  # pick u_th giving this skip rate on the trace
    scheduler: str = "equal_share"
    naive: bool = True
    repeat: int = 3
    extra: dict[str, Any] = field(default_factory=dict)
    max_batch: int = 32
    real_trace: bool = False  # the real trace file instead of the in-memory synthetic one
    jitter_cv: float = 0.0  # lognormal per-token times (SLM and GPU) with this cv, if > 0
    scale_default: bool = False  # scenarios/default.yaml scaled to ``devices`` devices


#: Device time per drafted token and GPU time per batch [s]. Deliberately incommensurate: with
#: equal values every device's draft instants fall on one grid, so far more of them share an
#: event than in any real scenario, which would flatter our model.
SLM_S, LLM_S = 0.0173, 0.0317
#: Extra GPU time per additional batch item [s] of the batched cases (~10 % of t(1)).
PER_ITEM_S = 0.003
#: The shipped files the full cases use (relative to a checkout's root).
REAL_TRACE = Path("traces") / "qwen-coder-0.5b-1.5b.parquet"
DEFAULT_SCENARIO = Path("scenarios") / "default.yaml"
#: Simulated time of the default-scenario cases [s] (the shipped file measures 2,700 s).
BENCH_DEFAULT_WARMUP_S, BENCH_DEFAULT_DURATION_S = 60.0, 120.0

CASES: tuple[BenchCase, ...] = (
    # Unbatched, enough GPUs not to saturate, the real trace: the naive GPU is a Resource.
    BenchCase("uhlm_1k_unbatched_real", 1000, 1000, "uhlm", 0.75, max_batch=1, real_trace=True),
    BenchCase("hlm_1k_unbatched_real", 1000, 1000, "hlm", 0.0, max_batch=1, real_trace=True),
    # Batching GPUs with a per-item cost and lognormal per-token and per-batch times (cv 0.2).
    BenchCase(
        "uhlm_1k_batched_jitter_real",
        1000,
        1000,
        "uhlm",
        0.75,
        max_batch=8,
        real_trace=True,
        jitter_cv=0.2,
    ),
    BenchCase(
        "hlm_1k_batched_jitter_real",
        1000,
        1000,
        "hlm",
        0.0,
        max_batch=8,
        real_trace=True,
        jitter_cv=0.2,
    ),
    # The shipped default scenario (its uplink, batching, jitter, SNR spread, think times as
    # shipped)
    # with the GPUs and the bandwidth scaled with the devices (20 devices per GPU and per
    # 10 MHz, as shipped).
    BenchCase("default_1k", 1000, 0, "uhlm", None, scale_default=True),
    BenchCase("default_10k", 10_000, 0, "uhlm", None, naive=False, scale_default=True),
    # The scheduled uplink in a real cell: 100 MHz, proportional fair, devices dropped in a
    # TR 38.901 UMa cell with shadowing and Rayleigh block fading (50 ms coherence). The naive
    # reference has no slotted scheduler or path-loss channel, so no ratio.
    BenchCase(
        "uhlm_pf_uplink_pathloss_200_devices",
        200,
        1000,
        "uhlm",
        0.75,
        scheduler="proportional_fair",
        naive=False,
        extra={
            "channel": {"model": "pathloss", "fading": "rayleigh"},
            "uplink": {"bandwidth_hz": 100e6},
        },
    ),
)

QUICK_CASES: tuple[BenchCase, ...] = (
    BenchCase("uhlm_100_devices_500_tokens", 100, 500, "uhlm", 0.75),
    BenchCase("hlm_100_devices_500_tokens", 100, 500, "hlm", 0.0),
)


def shipped_file(rel: Path) -> Path:
    """A shipped file (trace, scenario) in the working folder or beside the package source."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (root / rel).is_file():
            return root / rel
    raise CuhlmError(
        f"bench: {rel} not found in {Path.cwd()} or beside the package; run the full bench "
        "from a checkout of cuhlm_sim (--quick needs no files)"
    )


def _default_scaled(case: BenchCase) -> dict[str, Any]:
    """scenarios/default.yaml with ``case.devices`` devices, GPUs and bandwidth scaled alike."""
    from cuhlm_sim.config.load import read_yaml

    path = shipped_file(DEFAULT_SCENARIO)
    d = read_yaml(path)
    factor = case.devices / d["devices"]["count"]
    d["devices"]["count"] = case.devices
    d["server"]["gpus"] = max(1, round(d["server"].get("gpus", 1) * factor))
    d["uplink"]["bandwidth_hz"] = float(d["uplink"]["bandwidth_hz"]) * factor
    # 60 s warm-up + 120 s measured instead of the shipped 2,760 s: a speed case, not a study
    d["warmup_s"], d["duration_s"] = BENCH_DEFAULT_WARMUP_S, BENCH_DEFAULT_DURATION_S
    tpath = Path(d["trace"]["path"])
    d["trace"]["path"] = str(tpath if tpath.is_absolute() else (path.parent / tpath).resolve())
    return d


def _scenario_dict(case: BenchCase, threshold: float) -> dict[str, Any]:
    if case.scale_default:
        return _default_scaled(case)
    # Per-token time ~ SLM_S + (1 - skip)(uplink + LLM); the run lasts until every device has
    # had time for ``tokens_per_device`` tokens (the GPU pool is sized not to saturate).
    tx = 1.0 - (case.skip_target or 0.0)
    duration = case.tokens_per_device * (SLM_S + tx * (LLM_S + 0.001))
    per_batch = case.max_batch
    t_batch = LLM_S + (PER_ITEM_S * (per_batch - 1) if per_batch > 1 else 0.0)
    busy = case.devices * tx * LLM_S / (SLM_S + tx * LLM_S)  # GPUs busy at batch size 1
    gpus = max(1, int(np.ceil(busy * t_batch / LLM_S / per_batch * 1.5)))
    d: dict[str, Any] = {
        "seed": 0,
        "warmup_s": 0.0,
        "duration_s": duration,
        "devices": {
            "count": case.devices,
            "slm_latency_s": SLM_S,
            "tokens_per_request": 1000,
            "start_spread_s": SLM_S,
        },
        "uplink": {"bandwidth_hz": 1e9, "scheduler": case.scheduler},
        "payload": {"vocab_size": 1000},
        "server": {
            "gpus": gpus,
            "llm_latency_s": LLM_S,
            "max_batch": per_batch,
            "batch_per_item_s": PER_ITEM_S if per_batch > 1 else 0.0,
        },
        "policy": {"kind": case.policy, "threshold": threshold},
        "trace": {"path": str(shipped_file(REAL_TRACE)) if case.real_trace else None},
    }
    if case.jitter_cv > 0:
        d["devices"].update(slm_latency_dist="lognormal", slm_latency_cv=case.jitter_cv)
        d["server"].update(llm_latency_dist="lognormal", llm_latency_cv=case.jitter_cv)
    else:  # constant times (the schema's default is jittered)
        d["devices"]["slm_latency_dist"] = "fixed"
        d["server"]["llm_latency_dist"] = "fixed"
    for k, v in case.extra.items():
        d[k] = {**d.get(k, {}), **v}
    return d


def _threshold(trace, target: float | None) -> float:
    if target is None or target <= 0:
        return 0.0
    return float(np.quantile(trace.uncertainty, target))


def _best_of(repeat: int, fn):
    """(result, best wall time [s]) of ``repeat`` calls of ``fn()``."""
    best, out = float("inf"), None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def _load_case(case: BenchCase):
    """(scenario with the case's skip threshold, its trace, the threshold)."""
    from cuhlm_sim.config.build import load_scenario_trace
    from cuhlm_sim.config.schema import Scenario

    scn = Scenario.model_validate(_scenario_dict(case, 0.0))
    trace = load_scenario_trace(scn)
    if case.scale_default:
        return scn, trace, scn.policy.threshold
    th = _threshold(trace, case.skip_target)
    return Scenario.model_validate(_scenario_dict(case, th)), trace, th


def _jitter(scn) -> str:
    """The per-token and per-batch time distributions of a case, for its row."""
    d, g = scn.devices, scn.server
    slm = d.slm_latency_dist + (
        f" cv {d.slm_latency_cv:g}" if d.slm_latency_dist == "lognormal" else ""
    )
    llm = g.llm_latency_dist + (
        f" cv {g.llm_latency_cv:g}" if g.llm_latency_dist == "lognormal" else ""
    )
    return f"slm {slm}, gpu {llm}"


def _run_case(case: BenchCase, repeat: int) -> dict[str, Any]:
    from cuhlm_sim.runner import run_scenario

    scn, trace, th = _load_case(case)
    # The event loop always counts (model/environment.py): the timed runs report events too.
    out, wall = _best_of(repeat, lambda: run_scenario(scn, trace=trace, count_events=True))
    s = out.summary
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "tokens": s["tokens_generated"],
        "wall_s": wall,
        "tokens_per_s": s["tokens_generated"] / wall,
        "skip_rate": s["skip_rate"],
        "mean_token_latency_s": s["mean_token_latency_s"],
        "events": s["simpy_events"],
        "events_per_token": s["simpy_events"] / max(1, s["tokens_generated"]),
        "peak_rss_mb": rss,
        "threshold": th,
        "gpus": scn.server.gpus,
        "max_batch": scn.server.max_batch,
        "jitter": _jitter(scn),
    }


def _run_naive(case: BenchCase, repeat: int) -> dict[str, Any]:
    """The naive reference on exactly the case's scenario and trace."""
    from cuhlm_sim.experiments.naive import run_naive

    scn, trace, _ = _load_case(case)
    res, wall = _best_of(repeat, lambda: run_naive(scn, trace))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    counted = run_naive(scn, trace, count_events=True)
    return {
        "tokens": res["tokens"],
        "wall_s": wall,
        "tokens_per_s": res["tokens"] / wall,
        "skip_rate": res["skip_rate"],
        "mean_token_latency_s": res["mean_token_latency_s"],
        "events": counted["events"],
        "events_per_token": counted["events"] / max(1, counted["tokens"]),
        "peak_rss_mb": rss,
    }


def _child(
    parent: tuple[int, bool], target: Callable[..., Any], args: tuple[Any, ...], q: Any
) -> None:
    """Child body: ``("ok", result)`` or ``("error", one line)`` on the queue, never silence."""
    from cuhlm_sim.experiments.executors import exit_with_parent

    exit_with_parent(*parent)  # no orphan if the bench is killed
    try:
        q.put(("ok", target(*args)))
    except BaseException as exc:  # report everything, the parent decides
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        at = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
        q.put(("error", f"{type(exc).__name__}: {' '.join(str(exc).split())}{at}"))


def _in_subprocess(
    name: str, target: Callable[..., Any], *args: Any, timeout: float = DEFAULT_TIMEOUT_S
) -> Any:
    """``target(*args)`` in a fresh spawned process; BenchError if it fails, dies or overruns."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    parent = (os.getpid(), threading.current_thread() is threading.main_thread())
    p = ctx.Process(target=_child, args=(parent, target, args, q), daemon=True)
    p.start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                status, value = q.get(timeout=max(0.01, min(0.5, deadline - time.monotonic())))
                break
            except queue.Empty:
                if not p.is_alive():
                    try:  # a result put just before the exit may still be in the pipe
                        status, value = q.get(timeout=0.5)
                        break
                    except queue.Empty:
                        raise BenchError(
                            f"bench case {name}: the child process died without a result "
                            f"(exit code {p.exitcode})"
                        ) from None
                if time.monotonic() >= deadline:
                    raise BenchError(
                        f"bench case {name}: no result within {timeout:g} s (raise --timeout)"
                    ) from None
    finally:
        if p.is_alive():
            p.terminate()
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
            p.join(timeout=10)
        q.close()
    if status != "ok":
        raise BenchError(f"bench case {name}: {value}")
    return value


def run_bench(
    quick: bool = False,
    only: list[str] | None = None,
    repeat: int | None = None,
    *,
    cases: Sequence[BenchCase] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> dict[str, Any]:
    """Run the cases (``repeat`` overrides each case's number of timed runs).

    ``cases`` replaces the built-in list; ``timeout`` bounds each child process [s].
    """
    if cases is None:
        cases = QUICK_CASES if quick else CASES
    results = []
    for case in cases:
        if only and case.name not in only:
            continue
        n = case.repeat if repeat is None else repeat
        ours = _in_subprocess(case.name, _run_case, case, n, timeout=timeout)
        row: dict[str, Any] = {"case": case.name, **asdict(case), "repeat": n, "ours": ours}
        if case.naive:
            naive = _in_subprocess(f"{case.name} (naive)", _run_naive, case, n, timeout=timeout)
            row["naive"] = naive
            row["speedup_vs_naive"] = ours["tokens_per_s"] / naive["tokens_per_s"]
        results.append(row)
    return {
        "cuhlm_sim_version": __version__,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "processor": platform.processor(),
        "created_unix": time.time(),
        "cases": results,
    }


def load_bench(path: Path) -> dict[str, Any]:
    """A results file written by :func:`write_bench` (for comparing commits)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CuhlmError(f"{path}: no such bench results file") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise CuhlmError(f"{path}: not a bench results file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise CuhlmError(f"{path}: not a bench results file (no `cases` list)")
    return data


def compare_bench(result: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float]:
    """Case name -> our tokens per second now / in ``baseline``, for the cases both ran.

    Ratios of the speed-up over the naive model are less noisy across machines; they are
    returned for the cases with a naive run under ``<case>:vs_naive``.
    """
    before = {c["case"]: c for c in baseline["cases"] if isinstance(c, dict) and "case" in c}
    out: dict[str, float] = {}
    for row in result["cases"]:
        old = before.get(row["case"])
        if old is None:
            continue
        try:
            out[row["case"]] = row["ours"]["tokens_per_s"] / old["ours"]["tokens_per_s"]
            if "speedup_vs_naive" in row and "speedup_vs_naive" in old:
                out[f"{row['case']}:vs_naive"] = row["speedup_vs_naive"] / old["speedup_vs_naive"]
        except (KeyError, TypeError, ZeroDivisionError):
            continue
    return out


def write_bench(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
