"""``cuhlm accuracy``: closed-loop accuracy of U-HLM / CU-HLM with the real pair (issue 13).

It only parses options, calls :mod:`cuhlm_sim.accuracy.run` and prints; user mistakes raise
:class:`~cuhlm_sim.errors.CuhlmError` (see :mod:`cuhlm_sim.cli.common`).
"""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from cuhlm_sim.cli.common import console


def accuracy(
    models: Annotated[str, typer.Option(help="Model pair (a built-in preset).")] = "qwen-coder",
    out: Annotated[
        Path | None,
        typer.Option(
            help="Output Parquet [default: accuracy/<pair>.parquet]; parts go next to "
            "it in parts/<stem>/."
        ),
    ] = None,
    trace: Annotated[
        Path | None,
        typer.Option(
            help="Trace whose prompts are held out and whose fit gives the risk-averse "
            "threshold [default: traces/<pair>.parquet]."
        ),
    ] = None,
    configs: Annotated[
        str, typer.Option(help="Comma-separated subset: name or name@seed [default: all].")
    ] = "",
    prompts_per_kind: Annotated[int, typer.Option(help="Held-out prompts per kind.")] = 8,
    max_new_tokens: Annotated[int, typer.Option(help="New tokens per prompt.")] = 96,
    K: Annotated[int, typer.Option("--K", help="Uncertainty draws per token.")] = 20,
    theta_max: Annotated[float, typer.Option(help="Temperatures θ ~ U(0, θ_max].")] = 2.0,
    truncation_k: Annotated[int, typer.Option(help="CU-HLM top-k.")] = 30,
    averse_threshold: Annotated[
        float | None,
        typer.Option(
            help="Risk-averse u_th instead of the trace fit's −b/a (rounded to the K grid)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Root seed (prompt choice and token streams).")] = 0,
    batch_size: Annotated[int, typer.Option(help="Prompts decoded together.")] = 8,
    threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 1,
    pass1_timeout: Annotated[float, typer.Option(help="Seconds per pass@1 test run.")] = 10.0,
    readme: Annotated[
        Path | None, typer.Option(help="README to write [default: <out dir>/README.md].")
    ] = None,
    max_batches: Annotated[
        int | None, typer.Option(help="Stop after this many batches (resume later).")
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="GGUF cache [$CUHLM_MODEL_CACHE or ~/.cache/cuhlm_sim].")
    ] = None,
) -> None:
    """Decode held-out prompts in a real closed loop (LLM-only, SLM-only, HLM, U-HLM,
    CU-HLM, Rand-HLM), score the texts, write accuracy/<pair>.parquet. Resumable."""
    from cuhlm_sim.accuracy.configs import AccuracyError
    from cuhlm_sim.accuracy.run import AccuracyOptions, run_accuracy
    from cuhlm_sim.outputs.writer import check_destination
    from cuhlm_sim.traces.models import get_pair

    for name in ("cuhlm_sim.accuracy", "cuhlm_sim.traces.models"):  # progress in the log
        logging.getLogger(name).setLevel(logging.INFO)
    stem = get_pair(models).stem
    out = out or Path("accuracy") / f"{stem}.parquet"
    check_destination(out, "--out", folder=False)  # before an hour of decoding, not after
    check_destination(readme or out.parent / "README.md", "--readme", folder=False)
    names = tuple(c.strip() for c in configs.split(",") if c.strip())
    if max_batches is not None and max_batches < 1:
        raise AccuracyError(f"--max-batches: must be >= 1 (got {max_batches})")
    opts = AccuracyOptions(
        models=models,
        trace=trace or Path("traces") / f"{stem}.parquet",
        prompts_per_kind=prompts_per_kind,
        max_new_tokens=max_new_tokens,
        K=K,
        theta_max=theta_max,
        seed=seed,
        truncation_k=truncation_k,
        batch_size=batch_size,
        threads=threads,
        configs=names,
        pass1_timeout=pass1_timeout,
        averse_threshold=averse_threshold,
    )
    command = "cuhlm " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    res = run_accuracy(
        opts,
        out,
        cache_dir=cache_dir,
        stop_after_batches=max_batches,
        readme=readme or out.parent / "README.md",
        command=command,
    )
    rate = res.seconds / res.tokens_now if res.tokens_now else 0.0
    what = f"wrote {res.out}" if res.out else "stopped early (rerun to continue)"
    console.print(
        f"{what}: {res.units_done_now} of {res.units_total} units generated now, "
        f"{res.tokens_now} tokens in {res.seconds:.0f} s ({rate:.3f} s/token incl. loading)",
        highlight=False,
    )
