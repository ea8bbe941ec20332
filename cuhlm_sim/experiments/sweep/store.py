"""What a sweep keeps on disk: one JSON record per run (``DIR/runs/<key>.json``, written
atomically), and the tables rebuilt from them, ``runs.parquet``, ``points.parquet`` and
``sweep.json``.

A sweep's folder belongs to that sweep (its plan's hash, in the folder's ``.cuhlm-result``
marker, written before the first run): the same sweep resumes there, another sweep or a
capacity search is refused unless ``--force``, which clears the old results first
(:func:`claim_folder`). Capacity searches keep their runs in the same store and claim their
folders the same way.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cuhlm_sim.atomic import atomic_path, atomic_write_text
from cuhlm_sim.experiments.results import flatten_summary, points_frame, write_frame
from cuhlm_sim.experiments.sweep.plan import SweepPlan
from cuhlm_sim.outputs.writer import MARKER, OutputExistsError, dump_json

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


def sweep_meta(plan: SweepPlan) -> dict[str, Any]:
    """``sweep.json``: the plan's axes, points and seeds (the plots read it)."""
    return {
        "source": plan.source,
        "name": plan.spec.name,
        "axes": plan.axes,
        "points": plan.points,
        "repetitions": plan.spec.repetitions,
        "seeds": plan.seeds,
    }


def write_sweep_tables(plan: SweepPlan, out_dir: Path, runs: pd.DataFrame) -> pd.DataFrame:
    """Write ``sweep.json`` (axes, points, seeds), ``runs.parquet`` and ``points.parquet``;
    return the points table."""
    points = points_frame(runs, plan.axes)
    with atomic_path(out_dir / "sweep.json") as tmp:
        dump_json(sweep_meta(plan), tmp)
    write_frame(runs, out_dir / "runs.parquet")
    write_frame(points, out_dir / "points.parquet")
    return points


# --- which experiment a folder belongs to ------------------------------------------------------

#: Everything a sweep, a capacity search, its plots or a single run writes into a folder:
#: ``--force`` removes these names and nothing else, so a user's own files are never deleted.
RESULT_NAMES = frozenset(
    {
        MARKER,
        "runs",
        "runs.parquet",
        "points.parquet",
        "sweep.json",
        "capacity.json",
        "figures",
        "summary.json",
        "manifest.json",
        "devices.parquet",
        "tokens.parquet",
    }
)


@dataclass(frozen=True)
class Owner:
    """What a folder holds the results of: ``command`` (sweep, capacity, run) and its hash
    (None for folders written before owners were recorded)."""

    command: str
    id: str | None = None
    source: str = ""

    def describe(self) -> str:
        if self.command == "run":
            return "the results of `cuhlm run`"
        if self.command == "capacity":
            return "the results of another capacity search"
        return "another sweep's results" + (f" (of {self.source})" if self.source else "")


def folder_owner(out_dir: Path) -> Owner | None:
    """The experiment whose results ``out_dir`` holds, from its marker (or, in a folder from
    before markers were written, from its files); None when it holds none."""
    marker = out_dir / MARKER
    if marker.is_file():
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
            return Owner(str(data["command"]), data.get("id"), str(data.get("source", "")))
        except (ValueError, KeyError, TypeError):  # a run folder's plain-text marker
            return Owner("run")
    if (out_dir / "sweep.json").is_file():
        try:
            source = json.loads((out_dir / "sweep.json").read_text(encoding="utf-8"))["source"]
        except (ValueError, KeyError, TypeError):
            source = ""
        return Owner("sweep", None, str(source))
    if (out_dir / "capacity.json").is_file():
        return Owner("capacity")
    if (out_dir / "summary.json").is_file():
        return Owner("run")
    return None


def claim_folder(
    out_dir: Path,
    owner: Owner,
    *,
    force: bool = False,
    same_legacy: Callable[[Path], bool] = lambda _: False,
) -> None:
    """Make ``out_dir`` the folder of ``owner`` (a sweep or a capacity search), before its first
    run. The same experiment resumes there; another one's results are refused
    (:class:`~cuhlm_sim.outputs.writer.OutputExistsError`, exit code 2) unless ``force``,
    which removes them first. A folder holding files cuhlm did not write is refused even with
    ``force``. ``same_legacy`` decides for a folder of the same command without a recorded hash.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"--out: {out_dir} exists and is not a folder")
    if out_dir.is_dir():
        foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in RESULT_NAMES)
        if foreign:
            raise OutputExistsError(
                f"--out: {out_dir} holds files cuhlm did not write (e.g. {foreign[0]}); "
                "choose a new or empty folder (--force replaces only earlier results)"
            )
        old = folder_owner(out_dir)
        same = old is not None and old.command == owner.command
        if same and old is not None and old.id is not None:
            same = old.id == owner.id
        elif same:
            same = same_legacy(out_dir)
        if old is not None and not same:
            if not force:
                raise OutputExistsError(
                    f"--out: {out_dir} holds {old.describe()}, not this {owner.command}'s; "
                    "choose another folder, or pass --force to replace them"
                )
            clear_results(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {"command": owner.command, "id": owner.id, "source": owner.source}
    atomic_write_text(out_dir / MARKER, json.dumps(record, indent=1) + "\n")


def clear_results(out_dir: Path) -> None:
    """Remove what an experiment wrote into ``out_dir`` (:data:`RESULT_NAMES`), nothing else."""
    for name in sorted(RESULT_NAMES):
        path = out_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def claim_sweep_folder(plan: SweepPlan, out_dir: Path, *, force: bool = False) -> None:
    """Make ``out_dir`` this sweep's folder (see :func:`claim_folder`)."""
    owner = Owner("sweep", plan.plan_hash(), plan.source)
    claim_folder(out_dir, owner, force=force, same_legacy=_same_legacy_sweep(plan))


def _same_legacy_sweep(plan: SweepPlan) -> Callable[[Path], bool]:
    """For a folder written before plan hashes were recorded: the same sweep when its
    ``sweep.json`` has this plan's axes, points and seeds."""

    def same(out_dir: Path) -> bool:
        try:
            old = json.loads((out_dir / "sweep.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        new = json.loads(json.dumps(sweep_meta(plan), default=str))
        keys = ("axes", "points", "seeds")
        return isinstance(old, dict) and all(old.get(k) == new[k] for k in keys)

    return same
