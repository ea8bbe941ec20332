"""What a sweep keeps on disk: one JSON record per run (``DIR/runs/<key>.json``, written
atomically), and the tables rebuilt from them, ``runs.parquet``, ``points.parquet`` and
``sweep.json``."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from cuhlm_sim.atomic import atomic_path
from cuhlm_sim.experiments.results import flatten_summary, points_frame, write_frame
from cuhlm_sim.experiments.sweep.plan import SweepPlan
from cuhlm_sim.outputs.writer import dump_json

log = logging.getLogger(__name__)


class RunStore:
    """``DIR/<key>.json`` per finished run; each file appears atomically (write, then rename).

    ``root=None`` keeps records in memory only (a capacity search without ``--out``).
    """

    def __init__(self, root: Path | None) -> None:
        self.root = None if root is None else Path(root)
        self._memory: dict[str, dict[str, Any]] = {}

    def path(self, key: str) -> Path:
        if self.root is None:
            raise ValueError("an in-memory RunStore has no files")
        return self.root / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if self.root is None:
            return self._memory.get(key)
        try:
            return json.loads(self.path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            log.warning("ignoring unreadable run file %s; the run will be repeated", self.path(key))
            return None

    def put(self, record: dict[str, Any]) -> None:
        if self.root is None:
            self._memory[record["key"]] = record
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path(record["key"])) as tmp:
            dump_json(record, tmp)


def runs_frame(plan: SweepPlan, records: Mapping[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per run of this plan: swept parameters, seed, status and every scalar metric."""
    rows = []
    for task in plan.tasks:
        rec = records.get(task.key)
        if rec is None:
            continue
        row: dict[str, Any] = {
            "key": task.key,
            "point": task.point,
            "rep": task.rep,
            "seed": task.seed,
            "status": rec["status"],
            "error": rec.get("error"),
            "wall_time_s": rec.get("wall_time_s"),
        }
        row.update(task.params)
        row.update(flatten_summary(rec.get("summary")))
        rows.append(row)
    return pd.DataFrame(rows)


def write_sweep_tables(plan: SweepPlan, out_dir: Path, runs: pd.DataFrame) -> pd.DataFrame:
    """Write ``sweep.json`` (axes, points, seeds), ``runs.parquet`` and ``points.parquet``;
    return the points table."""
    points = points_frame(runs, plan.axes)
    meta = {
        "source": plan.source,
        "name": plan.spec.name,
        "axes": plan.axes,
        "points": plan.points,
        "repetitions": plan.spec.repetitions,
        "seeds": plan.seeds,
    }
    with atomic_path(out_dir / "sweep.json") as tmp:
        dump_json(meta, tmp)
    write_frame(runs, out_dir / "runs.parquet")
    write_frame(points, out_dir / "points.parquet")
    return points
