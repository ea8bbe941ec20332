"""``cuhlm sweep | capacity | plot``: the experiment commands, added to the main CLI.

:func:`register` attaches them to ``cuhlm_sim.cli.app``. Like every command they only parse
options, call :mod:`cuhlm_sim.experiments` and print; user mistakes (``CuhlmError``) become
one message on stderr and exit code 2 through ``cuhlm_sim.cli.user_errors``, looked up at call
time because ``cli.py`` imports this module before it defines the decorator.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

WorkersOption = Annotated[
    int | None,
    typer.Option(help="Local worker processes [default: all cores]; 1 runs in this process."),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        help="dask.distributed scheduler (tcp://host:port), or 'local' for a LocalCluster."
    ),
]


def _user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Apply cuhlm_sim.cli.user_errors when the command runs (avoids a circular import)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from cuhlm_sim.cli import user_errors

        return user_errors(fn)(*args, **kwargs)

    return wrapper


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )


@contextmanager
def _executor(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    from cuhlm_sim.experiments.sweep import make_executor

    ex = make_executor(workers, scheduler)
    try:
        yield ex
    finally:
        ex.close()


def sweep(
    sweep_file: Annotated[Path, typer.Argument(help="Sweep YAML (or a scenario with sweep:).")],
    out: Annotated[Path, typer.Option(help="Result folder; rerun with the same to resume.")],
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    retry_failed: Annotated[
        bool, typer.Option(help="Run again the runs recorded as failed.")
    ] = False,
) -> None:
    """Run every point of a sweep (resumable) and write runs.parquet and points.parquet."""
    from cuhlm_sim.errors import CuhlmError
    from cuhlm_sim.experiments.sweep import load_sweep, run_sweep

    plan = load_sweep(sweep_file)
    console.print(
        f"{sweep_file}: {len(plan.points)} points x {len(plan.seeds)} repetitions "
        f"over {', '.join(plan.axes) or 'no axis'}",
        highlight=False,
    )
    with _progress() as bar, _executor(workers, scheduler) as ex:
        task = bar.add_task("sweep", total=None, failed=0)
        failed = 0

        def start(total: int, done: int) -> None:
            bar.update(task, total=total, completed=done)

        def advance(rec: dict[str, Any]) -> None:
            nonlocal failed
            failed += rec["status"] != "ok"
            bar.update(task, advance=1, failed=failed)

        result = run_sweep(
            plan, out, ex, on_start=start, on_result=advance, retry_failed=retry_failed
        )
    console.print(
        f"{len(result.runs)} runs ({result.executed} run now, {result.failed} failed): "
        f"{out / 'runs.parquet'}, {out / 'points.parquet'}",
        highlight=False,
    )
    if result.failed:
        errors = result.runs.loc[result.runs["status"] != "ok", "error"].unique()
        raise CuhlmError(
            f"{result.failed} runs failed (first error: {errors[0]}); see the error column "
            f"of {out / 'runs.parquet'}; fix and rerun with --retry-failed"
        )


def capacity(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    slo: Annotated[
        list[str],
        typer.Option(help="SLO on a summary metric, e.g. 'p95_token_latency_s<=0.5' (repeat)."),
    ],
    over: Annotated[
        list[str] | None,
        typer.Option(
            help="Axis KEY=V1,V2,... (e.g. channel.snr_db=0,5,10,20); a second --over gives "
            "one curve per value."
        ),
    ] = None,
    reps: Annotated[int, typer.Option(help="Repetitions per device count.")] = 3,
    set_: Annotated[
        list[str] | None, typer.Option("--set", "-s", help="Override a scenario key (repeat).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Base seed of the repetitions.")] = None,
    start: Annotated[int, typer.Option(help="First device count tried.")] = 1,
    max_devices: Annotated[int, typer.Option(help="Stop doubling at this count.")] = 1024,
    resolution: Annotated[int, typer.Option(help="Stop bisecting when upper - lower <= this.")] = 1,
    out: Annotated[
        Path | None, typer.Option(help="Write DIR/capacity.json (+ DIR/runs/ to resume).")
    ] = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Largest devices.count meeting every SLO, for each value of the --over axis."""
    from cuhlm_sim.config import load_scenario
    from cuhlm_sim.experiments.capacity import (
        find_capacity,
        parse_over,
        parse_slo,
        write_capacity,
    )
    from cuhlm_sim.experiments.sweep import RunStore

    slos = [parse_slo(s) for s in slo]
    axes = [parse_over(o) for o in over or []]
    scn = load_scenario(scenario, list(set_ or []), seed=seed)
    store = RunStore(None if out is None else out / "runs")
    with _progress() as bar, _executor(workers, scheduler) as ex:
        task = bar.add_task("capacity runs", total=None, failed=0)
        failed = 0

        def advance(rec: dict[str, Any]) -> None:
            nonlocal failed
            failed += rec["status"] != "ok"
            bar.update(task, advance=1, failed=failed)

        entries = find_capacity(
            scn,
            slos,
            axes,
            repetitions=reps,
            start=start,
            max_devices=max_devices,
            resolution=resolution,
            executor=ex,
            store=store,
            on_result=advance,
        )
    table = Table(title=f"capacity: {' and '.join(map(str, slos))}", title_justify="left")
    for col in (*(k for k, _ in axes), "capacity", "bracket [lower, upper)", "runs"):
        table.add_column(col, justify="right")
    for e in entries:
        upper = f">{max_devices}" if e.capped else str(e.upper)
        table.add_row(
            *(str(v) for v in e.params.values()),
            str(e.capacity),
            f"[{e.lower}, {upper})",
            str(len(e.runs)),
        )
    console.print(table)
    if out is not None:
        path = write_capacity(out, entries, scenario=str(scenario), slos=slos, repetitions=reps)
        console.print(f"results: {path}", highlight=False)


def plot(
    folder: Annotated[Path, typer.Argument(help="A sweep or capacity result folder.")],
    kind: Annotated[
        str,
        typer.Option(help="auto | throughput | skip | capacity | latency | energy."),
    ] = "auto",
    out: Annotated[
        Path | None, typer.Option(help="Figure folder [default: FOLDER/figures].")
    ] = None,
) -> None:
    """Draw the figures a sweep or capacity folder supports (PNG and PDF)."""
    from cuhlm_sim.experiments.plots import plot_dir

    written = plot_dir(folder, kind, out)
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    if not written:
        console.print(f"{folder}: nothing to plot for --kind {kind}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``sweep``, ``capacity`` and ``plot`` to the main CLI."""
    for fn in (sweep, capacity, plot):
        app.command(fn.__name__)(_user_errors(fn))
