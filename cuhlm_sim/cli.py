"""The ``cuhlm`` command line: run, validate, traces, keys.

The CLI only parses arguments, calls the library and prints. It computes no metric. User
mistakes arrive as :class:`~cuhlm_sim.errors.CuhlmError`; they are printed as one message on
stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cuhlm_sim import __version__
from cuhlm_sim.cli_accuracy import register as _register_accuracy
from cuhlm_sim.cli_experiments import register as _register_experiments
from cuhlm_sim.cli_traces import app as traces_app
from cuhlm_sim.errors import CuhlmError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    help="cuhlm_sim: discrete-event simulator of hybrid LM inference over a wireless uplink.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
app.add_typer(traces_app, name="traces")
_register_experiments(app)
_register_accuracy(app)
console = Console()
err_console = Console(stderr=True)


def _name_source(exc: CuhlmError, source: Path) -> CuhlmError:
    """Prefix the scenario file to errors raised after loading it (trace, policy checks)."""
    if str(source) in str(exc):
        return exc
    return type(exc)(f"{source}: {exc}")


def user_errors(fn: F) -> F:
    """Turn CuhlmError into a one-line message and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CuhlmError as exc:
            err_console.print(
                f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(code=exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


# Every command of the traces sub-app gets the same treatment.
for _cmd in traces_app.registered_commands:
    _cmd.callback = user_errors(_cmd.callback)

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


@app.command()
@user_errors
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
    try:
        result = run_scenario(scn, log_tokens=log_tokens)
    except CuhlmError as exc:
        raise _name_source(exc, scenario) from None
    manifest = build_manifest(
        scn.model_dump(mode="json"),
        scn.seed,
        result.trace.files,
        result.trace.metadata,
        scenario_path=str(scenario),
        overrides=overrides,
        wall_time_s=result.wall_time_s,
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
    console.print(f"results: {out}  ({result.wall_time_s:.2f} s wall)", highlight=False)


@app.command()
@user_errors
def validate(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    set_: SetOption = None,
) -> None:
    """Check a scenario file (schema, values, trace file and columns) without running it."""
    from cuhlm_sim.config import load_scenario
    from cuhlm_sim.runner import check_scenario

    scn = load_scenario(scenario, list(set_ or []))
    try:
        check_scenario(scn)
    except CuhlmError as exc:
        raise _name_source(exc, scenario) from None
    console.print(f"{scenario}: ok ({scn.policy.kind}, {scn.devices.count} devices)")


@app.command()
def keys() -> None:
    """List every scenario key with its type, default and meaning."""
    from cuhlm_sim.config.reference import scenario_reference_rows

    table = Table(title="scenario keys")
    for col in ("key", "type", "default", "description"):
        table.add_column(col, overflow="fold")
    for row in scenario_reference_rows():
        table.add_row(*(escape(c) for c in row))
    console.print(table)


@app.command()
@user_errors
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
) -> None:
    """Speed benchmark: simulated tokens per wall second, peak RSS, ratio to a naive model."""
    from cuhlm_sim.experiments.bench import compare_bench, load_bench, run_bench, write_bench

    before = load_bench(baseline) if baseline is not None else None  # fail before running
    result = run_bench(quick=quick, only=only, repeat=repeat)
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
            f"{row['speedup_vs_naive']:.2f}x" if nv else "–",
            *([f"{change[row['case']]:.2f}x" if row["case"] in change else "–"] if before else []),
        )
    console.print(table)
    write_bench(result, out)
    console.print(f"results: {out}")


@traces_app.command("synth")
@user_errors
def traces_synth(
    out: Annotated[Path, typer.Argument(help="Output Parquet file.")],
    rows: Annotated[int, typer.Option(help="Number of token rows.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    vocab_size: Annotated[int, typer.Option(help="|V| of the synthetic vocabulary.")] = 151_936,
    a: Annotated[float, typer.Option(help="Rejection slope a (beta = a*u + b).")] = 0.815,
    b: Annotated[float, typer.Option(help="Rejection intercept b.")] = -0.066,
    weight_confident: Annotated[
        float, typer.Option(help="Share of confident tokens in the u mixture.")
    ] = 0.75,
) -> None:
    """Write a synthetic trace in the real schema (model: cuhlm_sim/traces/synth.py)."""
    from cuhlm_sim.traces.io import write_trace
    from cuhlm_sim.traces.synth import SynthParams, synth_table

    if rows < 1:
        raise CuhlmError(f"--rows: must be >= 1 (got {rows})")
    params = SynthParams(
        num_rows=rows,
        vocab_size=vocab_size,
        rejection_a=a,
        rejection_b=b,
        weight_confident=weight_confident,
    )
    table, meta = synth_table(params, seed)
    write_trace(table, out, meta)
    console.print(f"wrote {out} ({rows} rows)")


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"cuhlm_sim {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True)
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
