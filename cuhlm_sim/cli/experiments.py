"""``cuhlm sweep | capacity | plot | bench``: the experiment commands.

Like every command they only parse options, call :mod:`cuhlm_sim.experiments` and print; user
mistakes raise :class:`~cuhlm_sim.errors.CuhlmError` (see :mod:`cuhlm_sim.cli.common`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from cuhlm_sim.cli.common import console, err_console
from cuhlm_sim.errors import CuhlmError

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


#: Exit code after Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_EXIT = 130


def _interrupted(runs_dir: Path | None, keys: Iterable[str] | None = None) -> NoReturn:
    """One line on Ctrl-C: how many runs are stored and that the same command resumes.

    ``keys`` limits the count to one plan's runs; without it every stored run counts.
    """
    if runs_dir is None:
        err_console.print(
            "interrupted: nothing kept (no --out); rerun with --out DIR to make a search resumable",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=INTERRUPTED_EXIT)
    if keys is None:
        kept = len(list(runs_dir.glob("*.json"))) if runs_dir.is_dir() else 0
        of = ""
    else:
        wanted = set(keys)
        kept = sum((runs_dir / f"{k}.json").is_file() for k in wanted)
        of = f" of {len(wanted)}"
    err_console.print(
        f"interrupted: {kept}{of} runs kept in {runs_dir}; run the same command again to resume",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(code=INTERRUPTED_EXIT)


@contextmanager
def _executor(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    from cuhlm_sim.experiments.executors import make_executor

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
    force: Annotated[
        bool, typer.Option(help="Clear another sweep's results in --out and run this one.")
    ] = False,
) -> None:
    """Run every point of a sweep (resumable) and write runs.parquet and points.parquet."""
    from cuhlm_sim.experiments.sweep import load_sweep, run_sweep
    from cuhlm_sim.experiments.sweep.store import claim_sweep_folder
    from cuhlm_sim.outputs.writer import check_destination

    plan = load_sweep(sweep_file)
    check_destination(out, "--out")  # a file in the way, a read-only place: before claiming
    claim_sweep_folder(plan, out, force=force)  # before the first line: refused means untouched
    console.print(
        f"{sweep_file}: {len(plan.points)} points x {len(plan.seeds)} repetitions "
        f"over {', '.join(plan.axes) or 'no axis'}",
        highlight=False,
    )
    try:
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
    except KeyboardInterrupt:
        _interrupted(out / "runs", (t.key for t in plan.tasks))
    console.print(
        f"{len(result.runs)} runs ({result.executed} run now, {result.failed} failed): "
        f"{out / 'runs.parquet'}, {out / 'points.parquet'}",
        highlight=False,
    )
    if "steady_state" in result.runs:
        unsteady = int((result.runs["steady_state"] == 0).sum())
        if unsteady:
            err_console.print(
                f"warning: {unsteady} of {len(result.runs)} runs reached no steady state (column "
                "steady_state of runs.parquet); lengthen duration_s (docs/metrics.md)",
                style="yellow",
                highlight=False,
                soft_wrap=True,
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
    force: Annotated[
        bool, typer.Option(help="Clear other results in --out and run this search.")
    ] = False,
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
    from cuhlm_sim.experiments.sweep.plan import digest
    from cuhlm_sim.experiments.sweep.store import Owner, claim_folder
    from cuhlm_sim.outputs.writer import check_destination

    slos = [parse_slo(s) for s in slo]
    axes = [parse_over(o) for o in over or []]
    scn = load_scenario(scenario, list(set_ or []), seed=seed)
    if out is not None:  # the folder belongs to this search (same inputs: it resumes)
        check_destination(out, "--out")
        search = [scn.model_dump(mode="json"), list(map(str, slos)), axes, reps, start]
        owner = Owner("capacity", digest([*search, max_devices, resolution]), str(scenario))
        claim_folder(out, owner, force=force, same_legacy=lambda _: True)
    store = RunStore(None if out is None else out / "runs")
    try:
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
    except KeyboardInterrupt:
        _interrupted(store.root)
    table = Table(title=f"capacity: {' and '.join(map(str, slos))}", title_justify="left")
    cols = ("capacity", "requests/s at capacity", "bracket [lower, upper)", "runs")
    for col in (*(k for k, _ in axes), *cols):
        table.add_column(col, justify="right")
    for e in entries:
        upper = f">{max_devices}" if e.capped else str(e.upper)
        table.add_row(
            *(str(v) for v in e.params.values()),
            str(e.capacity),
            "–" if e.capacity_requests_per_s is None else f"{e.capacity_requests_per_s:.4g}",
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
    from cuhlm_sim.outputs.writer import check_destination

    if out is not None or folder.is_dir():  # else plot_dir says what is wrong with FOLDER
        check_destination(out or folder / "figures", "--out")
    written = plot_dir(folder, kind, out)
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    if not written:
        console.print(f"{folder}: nothing to plot for --kind {kind}", highlight=False)


def bench(
    out: Annotated[Path, typer.Option(help="JSON file for the results.")] = Path(
        "runs/bench/bench.json"
    ),
    quick: Annotated[bool, typer.Option(help="Small cases only (a few seconds).")] = False,
    only: Annotated[list[str] | None, typer.Option(help="Run only these case names.")] = None,
    repeat: Annotated[
        int | None,
        typer.Option(min=1, help="Timed runs per case, best kept (default 3; 1 for big cases)."),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(help="An earlier results JSON: add our speed now / then for each case."),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(min=0.1, help="Seconds each case's child process may take before it fails."),
    ] = 900.0,
) -> None:
    """Speed benchmark: simulated tokens per wall second, peak RSS, ratio to a naive model."""
    from cuhlm_sim.experiments.bench import compare_bench, load_bench, run_bench, write_bench
    from cuhlm_sim.outputs.writer import check_destination

    before = load_bench(baseline) if baseline is not None else None  # fail before running
    check_destination(out, "--out", folder=False)
    result = run_bench(quick=quick, only=only, repeat=repeat, timeout=timeout)
    change = compare_bench(result, before) if before is not None else {}
    if before is not None:
        result["baseline"] = {"file": str(baseline), "ratios": change}
    table = Table(title="cuhlm bench")
    for col in (
        "case",
        "tokens",
        "wall [s]",
        "tokens/s",
        "events/token",
        "peak RSS [MB]",
        "naive tokens/s",
        "naive events/token",
        "naive RSS [MB]",
        "speed-up",
        *(["vs baseline"] if before is not None else []),
    ):
        table.add_column(col, justify="right")
    for row in result["cases"]:
        o, nv = row["ours"], row.get("naive")
        table.add_row(
            row["case"],
            f"{o['tokens']:,}",
            f"{o['wall_s']:.2f}",
            f"{o['tokens_per_s']:,.0f}",
            f"{o['events_per_token']:.3f}",
            f"{o['peak_rss_mb']:.0f}",
            f"{nv['tokens_per_s']:,.0f}" if nv else "–",
            f"{nv['events_per_token']:.3f}" if nv and "events_per_token" in nv else "–",
            f"{nv['peak_rss_mb']:.0f}" if nv else "–",
            f"{row['speedup_vs_naive']:.2f}x" if nv else "–",
            *([f"{change[row['case']]:.2f}x" if row["case"] in change else "–"] if before else []),
        )
    console.print(table)
    write_bench(result, out)
    console.print(f"results: {out}")
