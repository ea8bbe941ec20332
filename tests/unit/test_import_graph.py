"""Imports run one way (docs/design.md): no module imports itself back through others, and no
layer imports one above it. Lazy imports inside functions and ``TYPE_CHECKING`` blocks count."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from cuhlm_sim.config.build import build_params
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.metrics.recorder import Recorder
from cuhlm_sim.model import recording
from cuhlm_sim.model.payload import PayloadModel
from cuhlm_sim.model.policies import POLICIES
from cuhlm_sim.traces.synth import SynthParams, synth_arrays

ROOT = Path(__file__).resolve().parents[2] / "cuhlm_sim"

#: A part may import its own modules and parts of a lower rank only.
RANK = {
    "errors": 0,
    "atomic": 0,
    "__init__": 0,
    "traces": 1,
    "model": 2,
    "metrics": 3,
    "config": 3,
    "outputs": 3,
    "accuracy": 3,
    "memory": 3,
    "runner": 4,
    "experiments": 5,
    "cli": 6,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """The cuhlm_sim modules that ``name`` imports, anywhere in its code."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}: the package imports absolutely"
            base = node.module or ""
            for alias in node.names:  # ``from pkg import module`` names the module itself
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in MODULES else base)
    return {m for m in out if m in MODULES and m != name}


GRAPH = {name: _imports(name) for name in MODULES}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_no_import_circles():
    """Tarjan's strongly connected components: every one must be a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert circles == []


def test_no_import_runs_back_up():
    assert set(map(_part, MODULES)) <= set(RANK), "rank the new part in RANK"
    upward = [
        f"{a} -> {b}"
        for a, targets in GRAPH.items()
        for b in targets
        if _part(a) != _part(b) and RANK[_part(b)] >= RANK[_part(a)]
    ]
    assert upward == []


def _members(proto: type) -> set[str]:
    return {k for k in vars(proto) if not k.startswith("_")}


def test_the_metrics_recorder_is_what_the_model_reports_to():
    """The model knows the recorder only as model.recording.Recorder: the metrics recorder has
    every member of it, and of the window, ledger and level interfaces it hands out."""
    trace = synth_arrays(SynthParams(num_rows=50), seed=0)
    params = build_params(Scenario.model_validate({"trace": {"path": None}}), trace)
    pol = params.policy
    policy = POLICIES.create(pol.kind, pol, trace, PayloadModel(params.payload))
    rec = Recorder(0.0, 10.0, 2, False)
    ledger = rec.attach(policy, trace)
    assert isinstance(rec, recording.Recorder)
    for obj, proto in [
        (rec, recording.Recorder),
        (rec.window, recording.WindowRule),
        (ledger, recording.Ledger),
        (rec.gpu_queue, recording.Level),
        (rec.uplink_active, recording.Level),
    ]:
        missing = [m for m in _members(proto) if not hasattr(obj, m)]
        assert missing == [], (proto.__name__, missing)


def test_the_core_needs_no_extra():
    """Simulating, sweeping on local processes and the CLI import none of the plots or
    cluster extras (pyproject.toml), so a plain ``pip install`` runs them."""
    code = (
        "import sys\n"
        "import cuhlm_sim.cli, cuhlm_sim.runner, cuhlm_sim.experiments.capacity\n"
        "extras = ('matplotlib', 'seaborn', 'dask', 'distributed')\n"
        "assert not [m for m in extras if m in sys.modules], sys.modules.keys() & set(extras)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
