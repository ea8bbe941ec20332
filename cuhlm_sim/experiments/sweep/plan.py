"""A sweep's plan: every point and repetition, expanded and validated before the first run.

Every combination of the axes (a *point*) runs ``repetitions`` times with seeds derived from
the base seed by :class:`numpy.random.SeedSequence`, so a sweep is reproducible and adding a
repetition leaves the earlier ones unchanged. The same repetition seeds are used at every point
(common random numbers), which makes differences between points less noisy. Each run is keyed
by a hash of its resolved scenario (seed included, :func:`run_key`). Every run replays its own
draw of the trace's prompts unless the scenario says otherwise (:data:`SWEEP_DEFAULTS`), so a
point's interval covers the choice of prompts as well as the seeds.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from cuhlm_sim import MODEL_REVISION
from cuhlm_sim.config.load import apply_overrides, format_validation_error, read_yaml
from cuhlm_sim.config.reference import scenario_key_exists
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.errors import ScenarioError
from cuhlm_sim.experiments.sweep.spec import SweepSpec, logrange_values, range_values

#: What a sweep or capacity search sets where the scenario leaves a key null (a scenario file,
#: ``--set``, a sweep's ``set:`` or an axis giving true/false wins): the prompt bootstrap, so
#: the 95 % interval of a point covers the choice of the trace's prompts as well as the seeds
#: (docs/experiments.md). ``cuhlm run`` treats the same null as off.
SWEEP_DEFAULTS: dict[str, Any] = {"trace.resample_prompts": True}


def with_sweep_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (a validated scenario as JSON) with each null key of :data:`SWEEP_DEFAULTS`
    set to its sweep default; the run key is computed after this, so it is the resolved one."""
    out = json.loads(json.dumps(config))
    for dotted, value in SWEEP_DEFAULTS.items():
        *path, leaf = dotted.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        if node.get(leaf) is None:
            node[leaf] = value
    return out


def derived_seeds(base_seed: int, repetitions: int) -> list[int]:
    """Seed of repetition r = SeedSequence(base_seed, spawn_key=(r,)); stable as reps grow."""
    return [
        int(np.random.SeedSequence(base_seed, spawn_key=(r,)).generate_state(1, np.uint32)[0])
        for r in range(repetitions)
    ]


def digest(obj: Any) -> str:
    """A short stable hash of JSON-like data (keys sorted)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def run_key(config: Mapping[str, Any]) -> str:
    """Hash of a resolved scenario (seed included) and the model revision: the run's identity
    on disk, so a model that gives other results never reuses stored runs."""
    return digest({"model_revision": MODEL_REVISION, "config": config})


@dataclass(frozen=True)
class RunTask:
    """One run: a resolved scenario as plain JSON (picklable for any executor)."""

    key: str
    point: int
    rep: int
    seed: int
    params: dict[str, Any]
    config: dict[str, Any]


@dataclass
class SweepPlan:
    """Everything a sweep will run, checked before the first run starts."""

    source: str
    spec: SweepSpec
    axes: list[str]
    points: list[dict[str, Any]]
    seeds: list[int]
    tasks: list[RunTask] = field(default_factory=list)

    def plan_hash(self) -> str:
        """The sweep's identity: its axes and every run's resolved scenario, seed included
        (not the model revision: a newer model reruns the same sweep in its folder)."""
        return digest({"axes": self.axes, "configs": [t.config for t in self.tasks]})


def _axis_dimensions(spec: SweepSpec, source: str) -> list[list[dict[str, Any]]]:
    """One list of partial assignments per dimension; every problem reported at once."""
    problems: list[str] = []
    dims: list[list[dict[str, Any]]] = []
    seen: set[str] = set(spec.overrides)
    for key in spec.overrides:
        if not scenario_key_exists(key):
            problems.append(f"{source}: set.{key}: unknown scenario key (see `cuhlm keys`)")

    def check(block: str, key: str, values: Sequence[Any]) -> bool:
        ok = True
        if not scenario_key_exists(key):
            problems.append(f"{source}: {block}.{key}: unknown scenario key (see `cuhlm keys`)")
            ok = False
        elif key == "seed":
            problems.append(f"{source}: {block}.seed: use `repetitions` to vary the seed")
            ok = False
        if len(values) == 0:
            problems.append(f"{source}: {block}.{key}: empty axis (give at least one value)")
            ok = False
        if key in seen:
            problems.append(f"{source}: {block}.{key}: key is set or swept twice")
            ok = False
        seen.add(key)
        return ok

    for key, values in spec.grid.items():
        if check("grid", key, values):
            dims.append([{key: v} for v in values])
    if spec.zip:
        lengths = {k: len(v) for k, v in spec.zip.items()}
        ok = all([check("zip", k, v) for k, v in spec.zip.items()])
        if len(set(lengths.values())) > 1:
            problems.append(f"{source}: zip: lists differ in length {lengths}")
        elif ok:
            keys = list(spec.zip)
            rows = zip(*spec.zip.values(), strict=True)
            dims.append([dict(zip(keys, vs, strict=True)) for vs in rows])
    for key, axis in spec.range.items():
        values = range_values(axis)
        if check("range", key, values):
            dims.append([{key: v} for v in values])
    for key, laxis in spec.logrange.items():
        values = logrange_values(laxis)
        if check("logrange", key, values):
            dims.append([{key: v} for v in values])
    if problems:
        raise ScenarioError("\n".join(problems))
    return dims


def plan_sweep(
    spec: SweepSpec, base: dict[str, Any], source: str, base_dir: Path | None = None
) -> SweepPlan:
    """Expand axes, derive seeds and validate every point's Scenario before anything runs.

    ``base`` is the scenario as read from YAML; ``base_dir`` resolves its relative trace path.
    """
    base = dict(base)
    trace = base.get("trace")
    if base_dir is not None and isinstance(trace, dict) and isinstance(trace.get("path"), str):
        tpath = Path(trace["path"]).expanduser()
        if not tpath.is_absolute():
            base["trace"] = dict(trace, path=str((base_dir / tpath).resolve()))
    dims = _axis_dimensions(spec, source)
    axes = [k for d in dims for k in d[0]]
    points = [
        {k: v for part in combo for k, v in part.items()} for combo in itertools.product(*dims)
    ]
    fixed = apply_overrides(base, spec.overrides.items())
    if spec.seed is not None:
        fixed["seed"] = spec.seed
    try:
        base_scn = Scenario.model_validate(fixed)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(f"{source} (base scenario)", exc)) from None
    seeds = derived_seeds(base_scn.seed, spec.repetitions)
    plan = SweepPlan(source, spec, axes, points, seeds)
    errors: list[str] = []
    for i, params in enumerate(points):
        try:
            scn = Scenario.model_validate(apply_overrides(fixed, params.items()))
        except ValidationError as exc:
            where = ", ".join(f"{k}={v!r}" for k, v in params.items())
            errors.append(format_validation_error(f"{source}: point {i} ({where})", exc))
            continue
        for rep, seed in enumerate(seeds):
            config = with_sweep_defaults(
                scn.model_copy(update={"seed": seed}).model_dump(mode="json")
            )
            plan.tasks.append(RunTask(run_key(config), i, rep, seed, params, config))
    if errors:
        raise ScenarioError("\n".join(errors))
    return plan


def load_sweep(path: str | Path) -> SweepPlan:
    """Read a sweep file (or a scenario with a ``sweep:`` block) and plan it."""
    path = Path(path)
    data = read_yaml(path)
    if "sweep" in data:  # a scenario file carrying its own sweep block
        raw_spec = data.pop("sweep")
        if not isinstance(raw_spec, dict):
            raise ScenarioError(f"{path}: sweep: expected a mapping of axes")
        base, base_dir = data, path.parent
    else:
        raw_spec, base, base_dir = data, None, None
        scenario_keys = sorted(
            {"devices", "channel", "uplink", "server", "policy", "duration_s"} & data.keys()
        )
        if "scenario" not in data and scenario_keys:
            raise ScenarioError(
                f"{path}: this is a scenario file (it has `{scenario_keys[0]}:`), not a sweep: "
                f"run it with `cuhlm run {path}`, or name it under `scenario:` in a sweep file "
                "(or add a `sweep:` block to it)"
            )
    try:
        spec = SweepSpec.model_validate(raw_spec)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(str(path), exc)) from None
    if base is None:
        if spec.scenario is None:
            raise ScenarioError(
                f"{path}: scenario: missing (the sweep file must name its base scenario file)"
            )
        scn_path = spec.scenario if spec.scenario.is_absolute() else path.parent / spec.scenario
        base, base_dir = read_yaml(scn_path), scn_path.parent
    return plan_sweep(spec, base, str(path), base_dir)
