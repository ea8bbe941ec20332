"""``cuhlm run | validate | keys``: one scenario file, simulated or checked, and its keys.

Commands only parse arguments, call the library and print; they compute no metric. User
mistakes raise :class:`~cuhlm_sim.errors.CuhlmError` (see :mod:`cuhlm_sim.cli.common`).
"""

from __future__ import annotations

import datetime as dt
import functools
import textwrap
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from cuhlm_sim.cli.common import console, err_console
from cuhlm_sim.errors import CuhlmError


def _name_source(exc: CuhlmError, source: Path) -> CuhlmError:
    """Prefix the scenario file to errors raised after loading it (trace, policy checks)."""
    if str(source) in str(exc):
        return exc
    return type(exc)(f"{source}: {exc}")


SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a scenario key: --set devices.count=50 (repeat)."),
]


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


ROWS = [
    ("tokens_generated", "tokens generated", ""),
    ("throughput_tokens_per_s", "throughput", "tok/s"),
    ("throughput_per_device_tokens_per_s", "throughput per device", "tok/s"),
    ("skip_rate", "skip rate", ""),
    ("true_skip_rate", "true skip rate", ""),
    ("rejection_rate", "rejection rate (sent)", ""),
    ("uplink_bits_per_transmission", "uplink bits / transmission", "bit"),
    ("mean_token_latency_s", "mean token latency", "s"),
    ("p95_token_latency_s", "p95 token latency", "s"),
    ("mean_gpu_queue_wait_s", "mean GPU queue wait", "s"),
    ("gpu_utilization", "GPU utilization", ""),
    ("uplink_utilization", "uplink utilization", ""),
]


def print_summary(summary: dict[str, Any], title: str) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for key, label, unit in ROWS:
        table.add_row(label, _fmt(summary.get(key)), unit)
    console.print(table)


def steady_state_warning(summary: dict[str, Any], devices: int) -> str | None:
    """The one line ``cuhlm run`` prints when the run did not reach a steady state."""
    if summary.get("steady_state", True):
        return None
    from cuhlm_sim.metrics.steady import MIN_REQUESTS_PER_DEVICE

    done = summary.get("requests_completed") or 0
    if done < MIN_REQUESTS_PER_DEVICE * devices:
        why = (
            f"{done} requests completed in the window, {done / devices:.3g} per device "
            f"(at least {MIN_REQUESTS_PER_DEVICE} needed)"
        )
    else:
        why = "the verified-token latency had not settled (MSER-5 found no end of the transient)"
    return (
        f"warning: no steady state: {why}; lengthen duration_s "
        "(docs/metrics.md, Steady state). Results written anyway."
    )


class RunProgress:
    """``progress(simulated_s, end_s)`` for :func:`cuhlm_sim.runner.run_scenario`: a bar of
    simulated time with its ETA on stderr, shown only when stderr is a terminal and only once
    the run has taken ``after_s`` of wall time (short runs print nothing). A new ``end_s``
    (the second run of ``warmup_s: auto``) starts the bar again."""

    def __init__(self, after_s: float = 2.0, console: Console | None = None) -> None:
        self.after_s = after_s
        self.console = console or err_console
        self._t0 = time.monotonic()
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._end_s: float | None = None

    def __call__(self, now_s: float, end_s: float) -> None:
        if self._bar is None:
            if time.monotonic() - self._t0 < self.after_s or not self.console.is_terminal:
                return
            self._bar = Progress(
                TextColumn("simulated"),
                BarColumn(),
                TextColumn("{task.completed:.4g} of {task.total:.4g} s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._bar.start()
        if end_s != self._end_s:
            if self._task is not None:
                self._bar.remove_task(self._task)
            self._task = self._bar.add_task("run", total=end_s)
            self._end_s = end_s
        assert self._task is not None
        self._bar.update(self._task, completed=min(now_s, end_s))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


#: Wall time after which ``cuhlm run`` shows its progress bar [s].
PROGRESS_AFTER_S = 2.0


def run(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    set_: SetOption = None,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Result folder [default: runs/<scenario>/<UTC time>-seed<N>]."),
    ] = None,
    log_tokens: Annotated[
        bool, typer.Option("--log-tokens", help="Also write tokens.parquet (one row per token).")
    ] = False,
    force: Annotated[bool, typer.Option(help="Replace an existing --out folder.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print no table.")] = False,
) -> None:
    """Simulate one scenario; write summary.json, manifest.json, devices.parquet
    (+ tokens.parquet)."""
    from cuhlm_sim.config import load_scenario
    from cuhlm_sim.metrics.compute import device_table
    from cuhlm_sim.outputs.manifest import build_manifest
    from cuhlm_sim.outputs.writer import (
        check_result_dir,
        dump_json,
        write_parquet,
        write_result_dir,
    )
    from cuhlm_sim.runner import run_scenario

    overrides = list(set_ or [])
    scn = load_scenario(scenario, overrides, seed=seed)
    if out is None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        out = Path("runs") / scenario.stem / f"{stamp}-seed{scn.seed}"
    check_result_dir(out, overwrite=force)  # before simulating, not after
    progress = RunProgress(PROGRESS_AFTER_S)
    try:
        result = run_scenario(scn, log_tokens=log_tokens, progress=progress)
    except CuhlmError as exc:
        raise _name_source(exc, scenario) from None
    except KeyboardInterrupt:
        progress.close()
        err_console.print(
            f"interrupted: nothing written to {out} (a single run is not resumable)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=130) from None  # 128 + SIGINT, as the sweep exits
    finally:
        progress.close()
    trace = result.trace
    manifest = build_manifest(
        result.scenario.model_dump(mode="json"),
        scn.seed,
        trace.files,
        trace.metadata,
        scenario_path=str(scenario),
        overrides=overrides,
        wall_time_s=result.wall_time_s,
        prompt_draw=None
        if trace.prompt_draw is None
        else [trace.prompt_names[i] for i in trace.prompt_draw],
    )
    writers = {
        "summary.json": functools.partial(dump_json, result.summary),
        "manifest.json": functools.partial(dump_json, manifest),
        "devices.parquet": functools.partial(write_parquet, device_table(result.result)),
    }
    if log_tokens:
        cols = result.result.recorder.token_log() or {}
        writers["tokens.parquet"] = functools.partial(write_parquet, cols)
    write_result_dir(out, writers, overwrite=force)
    if not quiet:
        print_summary(result.summary, f"{scenario} (seed {scn.seed}, {scn.policy.kind})")
    warning = steady_state_warning(result.summary, scn.devices.count)
    if warning:
        err_console.print(escape(warning), style="yellow", highlight=False, soft_wrap=True)
    console.print(f"results: {out}  ({result.wall_time_s:.2f} s wall)", highlight=False)


def validate(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    set_: SetOption = None,
) -> None:
    """Check a scenario file (schema, values, trace file and columns) without running it."""
    from cuhlm_sim.config import load_scenario
    from cuhlm_sim.memory import format_bytes
    from cuhlm_sim.runner import check_scenario

    scn = load_scenario(scenario, list(set_ or []))
    try:
        estimate = check_scenario(scn)
    except CuhlmError as exc:
        raise _name_source(exc, scenario) from None
    console.print(
        f"{scenario}: ok ({scn.policy.kind}, {scn.devices.count} devices; a run needs about "
        f"{format_bytes(estimate.total)} of memory)",
        highlight=False,
        soft_wrap=True,
    )


def keys() -> None:
    """List every scenario key with its type, default and meaning."""
    from cuhlm_sim.config.reference import scenario_reference_rows

    for line, style in key_lines(scenario_reference_rows(), console.width):
        console.print(Text(line, style=style), soft_wrap=True)


def key_lines(rows: list[tuple[str, ...]], width: int) -> list[tuple[str, str]]:
    """(line, style) pairs for ``cuhlm keys``: per key a line ``key (type, default D)`` and
    the description under it, indented, both wrapped at ``width`` between words, so that no
    key name, type or number is cut however narrow the terminal (a table folded them)."""
    width = max(width, 40)
    out: list[tuple[str, str]] = []
    for key, type_, default, description in rows:
        head = textwrap.wrap(
            f"{key} ({type_}, default {default})",
            width,
            subsequent_indent=" " * 8,
            break_long_words=False,
            break_on_hyphens=False,
        )
        out.append((head[0], "bold"))
        out += [(line, "") for line in head[1:]]
        body = textwrap.wrap(
            description,
            width,
            initial_indent=" " * 4,
            subsequent_indent=" " * 4,
            break_long_words=False,
            break_on_hyphens=False,
        )
        out += [(line, "") for line in body]
    return out
