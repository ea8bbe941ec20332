"""Regenerate the project's headline figures into analysis/figures/.

Runs the sweeps in analysis/sweeps/ and the capacity search of capacity_vs_snr.yaml (one
search per scheme), then draws the figures. Results go to ``--out`` (default runs/analysis);
every run is stored there by hash, so a second call only redraws, and an interrupted call
resumes. The PNGs are copied to ``--figures`` (committed, README shows them); the PDFs stay
beside the results.

    python analysis/make_figures.py                     # everything (a few minutes, 2 cores)
    python analysis/make_figures.py --only threshold    # one figure set
    python analysis/make_figures.py --run-only          # results, no figures
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path
from typing import Any

from cuhlm_sim.config.load import apply_overrides, read_yaml
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.errors import CuhlmError
from cuhlm_sim.experiments.capacity import (
    CapacityEntry,
    find_capacity,
    parse_slo,
    write_capacity,
)
from cuhlm_sim.experiments.executors import make_executor
from cuhlm_sim.experiments.plots import plot_dir
from cuhlm_sim.experiments.sweep import RunStore, load_sweep, run_sweep

HERE = Path(__file__).resolve().parent
SWEEPS = HERE / "sweeps"
#: Sweep name -> (figure kind in its folder, name of the PNG in analysis/figures).
SWEEP_FIGURES = {
    "throughput_vs_devices": {"throughput": "throughput_vs_devices"},
    "threshold": {
        "skip": "skip_vs_threshold",
        "energy": "energy_vs_threshold",
        "latency": "latency_breakdown_vs_threshold",
    },
}
log = logging.getLogger("make_figures")
#: The closed-loop accuracy table of the trace the default scenario replays.
ACCURACY_TABLE = HERE.parent / "accuracy" / "qwen-coder-0.5b-1.5b.parquet"


def run_accuracy_figure(
    out: Path, executor: Any, figures: Path | None, force: bool = False
) -> None:
    """U-HLM across thresholds + the single-setting schemes, then the accuracy figure."""
    from cuhlm_sim.experiments.accuracy_plot import plot_accuracy

    if not ACCURACY_TABLE.is_file():
        log.warning("accuracy: no %s yet (make accuracy); figure skipped", ACCURACY_TABLE)
        return
    dirs = {}
    for name in ("accuracy", "accuracy_points"):
        dirs[name] = out / name
        result = run_sweep(load_sweep(SWEEPS / f"{name}.yaml"), dirs[name], executor, force=force)
        log.info("%s: %d runs (%d failed)", name, len(result.runs), result.failed)
    if figures is None:
        return
    base = out / "accuracy" / "figures" / "accuracy_vs_throughput"
    base.parent.mkdir(parents=True, exist_ok=True)
    written = plot_accuracy(dirs["accuracy"], dirs["accuracy_points"], ACCURACY_TABLE, base)
    copy_png(next(p for p in written if p.suffix == ".png"), figures, "accuracy_vs_throughput")


def run_capacity(
    spec_path: Path,
    out: Path,
    executor: Any,
    extra: dict[str, Any] | None = None,
    spec: dict[str, Any] | None = None,
) -> Path:
    """One capacity search per variant of the spec; entries gain a ``policy`` parameter.
    ``extra`` overrides apply on top of the spec's ``set`` (the sensitivity study's cells);
    ``spec`` replaces reading ``spec_path`` (whose folder still anchors the scenario path)."""
    spec = read_yaml(spec_path) if spec is None else spec
    scn_path = (spec_path.parent / spec["scenario"]).resolve()
    base_data = read_yaml(scn_path)
    trace = base_data.get("trace") or {}
    if isinstance(trace.get("path"), str) and not Path(trace["path"]).is_absolute():
        base_data["trace"] = dict(trace, path=str(scn_path.parent / trace["path"]))
    base_data = apply_overrides(base_data, (spec.get("set") or {}).items())
    base_data = apply_overrides(base_data, (extra or {}).items())
    slos = [parse_slo(s) for s in spec["slo"]]
    over = list(spec["over"].items())
    store = RunStore(out / "runs")
    entries: list[CapacityEntry] = []
    for variant, overrides in spec["variants"].items():
        log.info("capacity: %s", variant)
        scn = Scenario.model_validate(apply_overrides(base_data, overrides.items()))
        for e in find_capacity(
            scn,
            slos,
            over,
            repetitions=int(spec.get("repetitions", 3)),
            max_devices=int(spec.get("max_devices", 1024)),
            executor=executor,
            store=store,
        ):
            e.params = {**e.params, "policy": variant}
            entries.append(e)
    return write_capacity(
        out, entries, scenario=str(scn_path), slos=slos, repetitions=spec.get("repetitions", 3)
    )


def copy_png(src: Path, figures: Path, name: str) -> None:
    if src.is_file():
        figures.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, figures / f"{name}.png")
        log.info("figure %s", figures / f"{name}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/analysis"), help="results folder")
    ap.add_argument("--figures", type=Path, default=HERE / "figures", help="PNG folder")
    ap.add_argument("--workers", type=int, default=None, help="processes [all cores]")
    ap.add_argument("--scheduler", default=None, help="dask scheduler tcp://host:port")
    ap.add_argument(
        "--only", choices=[*SWEEP_FIGURES, "capacity_vs_snr", "accuracy"], action="append"
    )
    ap.add_argument("--run-only", action="store_true", help="results only, no figures")
    ap.add_argument(
        "--force", action="store_true", help="replace a sweep folder of an edited sweep file"
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("make_figures", "cuhlm_sim.experiments"):
        logging.getLogger(name).setLevel(logging.INFO)
    wanted = args.only or [*SWEEP_FIGURES, "capacity_vs_snr", "accuracy"]
    executor = make_executor(args.workers, args.scheduler)
    try:
        for name in wanted:
            out = args.out / name
            if name == "accuracy":
                figs = None if args.run_only else args.figures
                run_accuracy_figure(args.out, executor, figs, force=args.force)
                continue
            if name == "capacity_vs_snr":
                run_capacity(SWEEPS / f"{name}.yaml", out, executor)
                if not args.run_only:
                    plot_dir(out, "capacity")
                    copy_png(out / "figures" / "capacity.png", args.figures, name)
                continue
            plan = load_sweep(SWEEPS / f"{name}.yaml")
            result = run_sweep(plan, out, executor, force=args.force)
            log.info("%s: %d runs (%d failed)", name, len(result.runs), result.failed)
            if args.run_only:
                continue
            for kind, png in SWEEP_FIGURES[name].items():
                try:
                    written = plot_dir(out, kind)
                except CuhlmError as exc:  # e.g. no energy metric in this model version
                    log.warning("%s: no %s figure (%s)", name, kind, exc)
                    continue
                copy_png(next(p for p in written if p.suffix == ".png"), args.figures, png)
    finally:
        executor.close()


if __name__ == "__main__":
    main()
