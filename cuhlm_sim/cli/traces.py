"""``cuhlm traces``: generate real-model traces from any draft/target pair, list the
catalogue, write synthetic ones, inspect them, fit u → rejection.

A sub-app mounted by :mod:`cuhlm_sim.cli.commands`. Commands raise
:class:`~cuhlm_sim.errors.CuhlmError` subclasses for user mistakes and never catch them (see
:mod:`cuhlm_sim.cli.common`).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from cuhlm_sim.cli.common import console, new_app
from cuhlm_sim.errors import CuhlmError, TraceError
from cuhlm_sim.traces.schema import KINDS

app = new_app(help="Token traces: generate (real models), list, synth, inspect, fit, report.")

#: ``traces fit --bins``: a line needs three bins; more than a million is no longer a binning.
MIN_FIT_BINS, MAX_FIT_BINS = 3, 1_000_000
#: ``traces synth --vocab-size``: a draft token and at least one rival; 2^24 (16.7 M) is 64
#: times the largest real vocabulary (Gemma's 262 k) and keeps the tail tables under 200 MB.
MIN_VOCAB, MAX_VOCAB = 2, 1 << 24


@app.command()
def generate(
    draft: Annotated[
        str | None,
        typer.Option(
            help="Draft SPEC: a built-in name, a local transformers folder, a .gguf file, or "
            "exit:N (the target's first N layers)."
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(help="Target SPEC: a built-in name, a local transformers folder or .gguf."),
    ] = None,
    models: Annotated[
        str | None,
        typer.Option(
            help="Preset pair instead of --draft/--target: qwen-coder | smollm2 | gemma3."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output Parquet (default: traces/<pair>.parquet; --quick: out/...)."),
    ] = None,
    quick: Annotated[bool, typer.Option(help="Small trace: 1 prompt per kind, 32 tokens.")] = False,
    prompts: Annotated[
        Path | None,
        typer.Option(
            "--prompts",
            help="JSONL file of your own prompts: one {id, kind, text, chat_template} per line.",
        ),
    ] = None,
    kinds: Annotated[str | None, typer.Option(help="Comma-separated kinds (default: all).")] = None,
    prompts_per_kind: Annotated[
        int | None, typer.Option(help="Prompts per kind [12; with --prompts: all].")
    ] = None,
    max_new_tokens: Annotated[int | None, typer.Option(help="Tokens per prompt [200].")] = None,
    K: Annotated[int, typer.Option("--K", help="Uncertainty draws per token.")] = 20,
    theta_max: Annotated[float, typer.Option(help="Temperatures θ ~ U(0, θ_max].")] = 2.0,
    temperature: Annotated[
        float, typer.Option(help="Sampling temperature of draft and target.")
    ] = 1.0,
    draft_temperature: Annotated[
        float | None, typer.Option(help="Draft temperature [--temperature].")
    ] = None,
    target_temperature: Annotated[
        float | None, typer.Option(help="Target temperature [--temperature].")
    ] = None,
    seed: Annotated[int, typer.Option(help="Root seed.")] = 0,
    device: Annotated[str, typer.Option(help="Torch device: cpu | cuda[:N] | mps.")] = "cpu",
    dtype: Annotated[
        str, typer.Option(help="Weights and activations: bfloat16 | float16 | float32.")
    ] = "bfloat16",
    batch_size: Annotated[int, typer.Option(help="Prompts decoded at once.")] = 1,
    importance: Annotated[
        bool,
        typer.Option(
            "--importance",
            help="Record the target's attention importance per position (eager attention, slower).",
        ),
    ] = False,
    cache_dir: Annotated[
        Path | None, typer.Option(help="GGUF cache [$CUHLM_MODEL_CACHE or ~/.cache/cuhlm_sim].")
    ] = None,
    threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 2,
    no_progress: Annotated[bool, typer.Option(help="Hide the progress bar.")] = False,
) -> None:
    """Generate (or resume) a trace from a draft/target pair; finished prompts are kept."""
    from rich.logging import RichHandler

    from cuhlm_sim.outputs.writer import check_destination
    from cuhlm_sim.traces.generate import QUICK, GenerateOptions, default_out
    from cuhlm_sim.traces.generate import generate as run
    from cuhlm_sim.traces.specs import pair_specs, resolve_spec

    logging.basicConfig(
        level=logging.INFO, format="%(message)s", handlers=[RichHandler(show_path=False)]
    )
    draft_spec, target_spec, preset = pair_specs(models, draft, target)
    # A SPEC that is not on disk fails here, before any prompt or model is touched.
    resolve_spec(draft_spec, "--draft")
    resolve_spec(target_spec, "--target")
    kind_t = tuple(k.strip() for k in (kinds or "").split(",") if k.strip())
    if prompts is None:
        kind_t = kind_t or KINDS
        bad = [k for k in kind_t if k not in KINDS]
        if bad:
            raise TraceError(f"--kinds: expected a subset of {','.join(KINDS)} (got {kinds!r})")
        ppk: int | None = prompts_per_kind or (QUICK["prompts_per_kind"] if quick else 12)
    else:
        ppk = prompts_per_kind or (QUICK["prompts_per_kind"] if quick else None)
    mnt = max_new_tokens or (QUICK["max_new_tokens"] if quick else 200)
    opts = GenerateOptions(
        draft=draft_spec,
        target=target_spec,
        models=preset.key if preset is not None else None,
        kinds=kind_t,
        prompts_per_kind=ppk,
        max_new_tokens=mnt,
        K=K,
        theta_max=theta_max,
        seed=seed,
        threads=threads,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        temperature_draft=temperature if draft_temperature is None else draft_temperature,
        temperature_target=temperature if target_temperature is None else target_temperature,
        importance=importance,
        prompts_file=str(prompts) if prompts is not None else None,
    )
    opts.validate()
    dest = out or default_out(opts.models, quick, draft_spec, target_spec)
    check_destination(dest, "--out", folder=False)  # before any model is loaded
    res = run(opts, dest, cache_dir=cache_dir, progress=not no_progress)
    rate = res.generated_tokens / res.seconds if res.seconds > 0 and res.generated_tokens else 0.0
    spt = f"{res.seconds_per_token:.3f} s/token generating" if res.seconds_per_token else "-"
    console.print(
        f"wrote {res.out}: {res.n_tokens} rows from {res.n_prompts} prompts "
        f"{res.rows_per_kind}; this run generated {res.generated_tokens} tokens "
        f"in {res.seconds:.0f} s ({rate:.2f} tokens/s incl. loading; {spt})"
    )


@app.command("list")
def list_cmd(
    folder: Annotated[
        Path, typer.Argument(help="Folder searched for trace files (recursively).")
    ] = Path("traces"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The trace catalogue: pair, size ratio, rows, prompts per kind, α, accept rate, fit."""
    from cuhlm_sim.traces.catalogue import catalogue

    entries, skipped = catalogue(folder)
    if as_json:
        console.print_json(
            json.dumps({"traces": [e.to_dict() for e in entries], "skipped": skipped})
        )
        return
    for line, style in catalogue_lines(entries, console.width):
        console.print(Text(line, style=style), soft_wrap=True)
    for path, why in skipped:
        console.print(f"skipped {path}: {why}", highlight=False)


@app.command("inspect")
def inspect_cmd(
    file: Annotated[Path, typer.Argument(help="Trace Parquet file.")],
    prob_bits: Annotated[int, typer.Option(help="Bits per kept probability b_p.")] = 8,
    vocab_size: Annotated[int | None, typer.Option(help="Override |V| for payloads.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Summarise a trace: rows, prompts, α, accept rate, u distribution, payload per k."""
    from cuhlm_sim.traces.inspect import summarize

    if not 1 <= prob_bits <= 64:
        raise CuhlmError(f"--prob-bits: must lie in [1, 64] (got {prob_bits})")
    if vocab_size is not None and vocab_size < 2:
        raise CuhlmError(f"--vocab-size: must be >= 2 (got {vocab_size})")
    s = summarize(file, prob_bits=prob_bits, vocab_size=vocab_size)
    if as_json:
        console.print_json(json.dumps(s.to_dict()))
        return
    console.print(f"[bold]{s.path}[/]: {s.rows} rows; {s.meta}")
    t = Table("kind", "prompts", "rows", "mean α", "accept rate", "mean π", "mean u")
    for k in [*s.rows_by_kind, "all"]:
        t.add_row(
            k,
            str(s.prompts_by_kind.get(k, sum(s.prompts_by_kind.values()))),
            str(s.rows_by_kind.get(k, s.rows)),
            f"{s.alpha_mean.get(k, float('nan')):.3f}",
            f"{s.accept_rate[k]:.3f}",
            f"{s.accept_prob_mean[k]:.3f}",
            f"{s.u_mean[k]:.3f}",
        )
    console.print(t)
    console.print("u quantiles: " + ", ".join(f"{k}={v:.3f}" for k, v in s.u_quantiles.items()))
    h = Table("u bin", "rows", "share")
    for i, c in enumerate(s.u_hist_counts):
        h.add_row(
            f"[{s.u_hist_edges[i]:.1f}, {s.u_hist_edges[i + 1]:.1f})", str(c), f"{c / s.rows:.3f}"
        )
    console.print(h)
    p = Table("k", "payload bits", "payload bytes", "mean ‖p−p̂‖₁", "mean π̂_k")
    for i, k in enumerate(s.k_grid):
        p.add_row(
            str(k),
            str(s.payload_bits[i]) if s.payload_bits else "?",
            f"{s.payload_bits[i] / 8:.0f}" if s.payload_bits else "?",
            f"{s.topk_l1_mean[i]:.4f}" if s.topk_l1_mean else "-",
            f"{s.topk_accept_mean[i]:.4f}" if s.topk_accept_mean else "-",
        )
    console.print(p)


@app.command()
def fit(
    file: Annotated[Path, typer.Argument(help="Trace Parquet file.")],
    plot: Annotated[Path | None, typer.Option(help="Save the plot here (.png/.pdf).")] = None,
    target: Annotated[str, typer.Option(help="rejected (1−accepted) | beta (1−π).")] = "rejected",
    by_kind: Annotated[bool, typer.Option(help="Also fit each kind.")] = False,
    bins: Annotated[int | None, typer.Option(help="Equal-width bins [distinct u values].")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Fit rejection ≈ a·u + b (binned, U-HLM style) and print the thresholds."""
    from cuhlm_sim.outputs.writer import check_destination
    from cuhlm_sim.traces.fit import PLOT_SUFFIXES, fit_trace, save_plot

    if bins is not None and not MIN_FIT_BINS <= bins <= MAX_FIT_BINS:
        raise CuhlmError(f"--bins: must lie in [{MIN_FIT_BINS}, {MAX_FIT_BINS:,}] (got {bins})")
    if plot is not None:  # before the fit, which may take a while on a big trace
        if plot.suffix.lower() not in PLOT_SUFFIXES:
            raise CuhlmError(f"--plot {plot}: the name must end in {' or '.join(PLOT_SUFFIXES)}")
        check_destination(plot, "--plot", folder=False)
    res = fit_trace(file, target=target, by_kind=by_kind, n_bins=bins)
    if as_json:
        console.print_json(json.dumps({k: r.to_dict() for k, r in res.items()}))
    else:
        for table in fit_tables(res):
            console.print(table)
    if plot is not None:
        console.print(f"plot: {save_plot(res, plot)}")


def catalogue_lines(entries: list, width: int) -> list[tuple[str, str]]:
    """(line, style) pairs for ``traces list``: the file on its own line, then its facts as
    ``name value`` items wrapped between items at ``width`` (a 13-column table folded names
    and cut numbers to ``0.…`` at 80 columns)."""
    width = max(width, 40)
    out: list[tuple[str, str]] = []
    for e in entries:
        prompts = "/".join(str(e.prompts_per_kind.get(k, 0)) for k in KINDS) + "".join(
            f" {k} {v}" for k, v in e.prompts_per_kind.items() if k not in KINDS
        )
        items = [
            f"pair {e.pair} ({e.size_ratio_text()})",
            f"rows {e.rows:,}",
            f"prompts code/prose/chat {prompts}",
            "mean α " + ("-" if e.mean_alpha is None else f"{e.mean_alpha:.3f}"),
            f"accept {e.accept_rate:.3f}",
            "fit a " + ("-" if e.fit_a is None else f"{e.fit_a:.3f}"),
            "b " + ("-" if e.fit_b is None else f"{e.fit_b:.3f}"),
            f"T {e.temperature_text()}",
            f"device {e.device or '-'}",
            f"importance {'yes' if e.importance else 'no'}",
        ]
        out.append((e.file, "bold"))
        line = ""
        for item in items:
            joined = f"{line}; {item}" if line else f"    {item}"
            if line and len(joined) > width:
                out.append((line, ""))
                joined = f"    {item}"
            line = joined
        out.append((line, ""))
    return out


def _numbers_table(title: str, *columns: str) -> Table:
    """A table whose cells fold rather than end in "…": a number is never cut."""
    table = Table(title=title, title_justify="left")
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right", overflow="fold")
    return table


def fit_tables(res: dict) -> list[Table]:
    """``traces fit`` as two tables that fit 80 columns (one had eleven columns, and rich
    cut a and b to ``0.7…``): the line with its 95 % intervals, then the thresholds."""
    line = _numbers_table(
        "fit: rejection ≈ a·u + b (weighted, on u bins)",
        "set",
        "rows",
        "bins",
        "a\n[95% CI]",
        "b\n[95% CI]",
        "R²",
    )
    thresholds = _numbers_table(
        "u_th: risk-averse −b/a, risk-prone (Δ − b)/a",
        "set",
        "Δ",
        "u_th averse",
        "skip",
        "u_th prone",
        "skip",
    )
    for name, r in res.items():
        line.add_row(
            name,
            str(r.n_tokens),
            str(r.n_bins),
            f"{r.a:.3f}\n[{r.a_ci[0]:.3f}, {r.a_ci[1]:.3f}]",
            f"{r.b:.3f}\n[{r.b_ci[0]:.3f}, {r.b_ci[1]:.3f}]",
            f"{r.r2:.3f}",
        )
        thresholds.add_row(
            name,
            f"{r.delta:.3f}",
            f"{r.u_th_averse:.3f}",
            f"{r.skip_rate_averse:.3f}",
            f"{r.u_th_prone:.3f}",
            f"{r.skip_rate_prone:.3f}",
        )
    return [line, thresholds]


@app.command()
def report(
    file: Annotated[Path, typer.Argument(help="Trace Parquet file.")],
    target: Annotated[str, typer.Option(help="rejected (1−accepted) | beta (1−π).")] = "rejected",
) -> None:
    """Print the Markdown summary table used in traces/README.md."""
    from cuhlm_sim.traces.fit import report_markdown

    typer.echo(report_markdown(file, target), nl=False)


@app.command()
def synth(
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
    from cuhlm_sim.memory import check_fits, estimate_trace
    from cuhlm_sim.outputs.writer import check_destination
    from cuhlm_sim.traces.io import write_trace
    from cuhlm_sim.traces.synth import SynthParams, synth_table

    if rows < 1:
        raise CuhlmError(f"--rows: must be >= 1 (got {rows})")
    if seed < 0:
        raise CuhlmError(f"--seed: must be >= 0 (got {seed})")
    if not MIN_VOCAB <= vocab_size <= MAX_VOCAB:
        raise CuhlmError(
            f"--vocab-size: must lie in [{MIN_VOCAB}, {MAX_VOCAB:,}] (got {vocab_size}): the "
            "draft token's rivals need a vocabulary of two or more tokens"
        )
    for option, value in (("--a", a), ("--b", b)):
        if not math.isfinite(value):
            raise CuhlmError(f"{option}: must be a finite number (got {value})")
    if not 0.0 <= weight_confident <= 1.0:
        raise CuhlmError(f"--weight-confident: must lie in [0, 1] (got {weight_confident})")
    check_destination(out, "OUT", folder=False)
    check_fits(estimate_trace(rows, "--rows"))
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
