"""What a sweep or capacity search pays once, not per run: start-up imports, the trace, the
prompt draw of each seed (issue 16, item 5). Counted with patched loaders, never timed."""

from __future__ import annotations

import collections
import math
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cuhlm_sim.config import build
from cuhlm_sim.config.load import apply_overrides
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.experiments.capacity import find_capacity, parse_slo
from cuhlm_sim.experiments.executors import InProcessExecutor, ProcessPoolRunner, make_executor
from cuhlm_sim.experiments.results import ci95_half_width, t975
from cuhlm_sim.experiments.sweep import RunStore, run_tasks
from cuhlm_sim.experiments.sweep import runner as sweep_runner
from cuhlm_sim.experiments.sweep.plan import RunTask, derived_seeds, run_key, with_sweep_defaults
from tests.experiments.conftest import TINY


def test_t_quantile_matches_closed_forms_and_scipy_stats():
    """t_{0.975,1} = tan(0.475 π) and t_{0.975,2} = (2p - 1) sqrt(2 / (4 p (1 - p))) with
    p = 0.975 (Student's t with 1 and 2 degrees of freedom have closed-form quantiles); every
    degree of freedom gives exactly what scipy.stats.t.ppf gives (the function used before)."""
    from scipy import stats

    p = 0.975
    assert t975(1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-13)
    assert t975(2) == pytest.approx((2 * p - 1) * math.sqrt(2 / (4 * p * (1 - p))), rel=1e-13)
    for dof in range(1, 300):
        assert t975(dof) == float(stats.t.ppf(p, dof))  # bit for bit
    x = np.array([10.0, 12.0, 11.0, 15.0])  # s = sqrt(14/3), n = 4: t_{.975,3} = 3.18245
    assert ci95_half_width(x) == pytest.approx(3.1824463052837078 * math.sqrt(14 / 3) / 2)
    assert math.isnan(ci95_half_width(np.array([1.0, math.nan])))


def test_a_capacity_search_never_imports_scipy_stats():
    """scipy.stats costs about a second of start-up in every process that imports it; the CLI,
    a run and the search's confidence intervals need none of it."""
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import cuhlm_sim.cli, cuhlm_sim.runner, cuhlm_sim.experiments.capacity\n"
        "from cuhlm_sim.experiments.results import ci95_half_width\n"
        "assert ci95_half_width(np.array([1.0, 2.0, 4.0])) > 0\n"
        "from cuhlm_sim.config.schema import Scenario\n"
        "from cuhlm_sim.experiments.capacity import find_capacity, parse_slo\n"
        "base = Scenario.model_validate({'duration_s': 2.0, 'warmup_s': 0.5,\n"
        "    'trace': {'path': None, 'synth_rows': 500}})\n"
        "find_capacity(base, [parse_slo('p95_token_latency_s<=100')], repetitions=2,\n"
        "    max_devices=2)\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('scipy.stats'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _counting(monkeypatch, module, name: str, log: Path) -> None:
    """Replace ``module.name`` with a wrapper that appends this process's id to ``log``
    (a file, so calls made in forked pool workers are counted too)."""
    real = getattr(module, name)

    def wrapper(*args, **kwargs):
        with log.open("a", encoding="utf-8") as f:
            f.write(f"{os.getpid()}\n")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)


def _calls(log: Path) -> collections.Counter[int]:
    if not log.exists():
        return collections.Counter()
    return collections.Counter(int(x) for x in log.read_text(encoding="utf-8").split())


@pytest.fixture
def empty_caches(monkeypatch):
    """This process's trace and prompt-draw caches, empty for the test and restored after."""
    monkeypatch.setattr(sweep_runner, "_TRACE_CACHE", {})
    monkeypatch.setattr(sweep_runner, "_REPLAY_CACHE", {})


def test_a_search_loads_the_trace_once_and_draws_each_seeds_prompts_once(
    monkeypatch, tmp_path, empty_caches
):
    """In one process: 2 axis values x (1, 2, ...) devices x 2 repetitions, one trace load
    (the metric probe's, reused by every run) and one prompt draw per repetition seed."""
    loads, draws = tmp_path / "loads", tmp_path / "draws"
    _counting(monkeypatch, sweep_runner, "load_scenario_trace", loads)
    _counting(monkeypatch, build, "resample_prompts", draws)
    store = RunStore(None)
    find_capacity(
        Scenario.model_validate(TINY),
        [parse_slo("gpu_utilization<=1.0")],
        [("policy.kind", ["hlm", "uhlm"])],
        repetitions=2,
        max_devices=4,
        store=store,
    )
    assert len(store._memory) == 2 * 3 * 2  # devices 1, 2, 4 at both values, 2 seeds each
    assert sum(_calls(loads).values()) == 1
    assert sum(_calls(draws).values()) == 2


def test_kept_prompt_draws_give_the_same_runs_and_cannot_be_changed(monkeypatch, empty_caches):
    """The same tasks with the draw kept and made afresh per run: equal records (but the wall
    time); a kept draw's arrays are read-only, the loaded trace's are not."""
    base = Scenario.model_validate(TINY)
    tasks = []
    for n in (1, 3):
        for rep, seed in enumerate(derived_seeds(base.seed, 2)):
            config = with_sweep_defaults(
                apply_overrides(
                    base.model_dump(mode="json"), [("devices.count", n), ("seed", seed)]
                )
            )
            tasks.append(RunTask(run_key(config), n, rep, seed, {"devices.count": n}, config))

    def records() -> dict[str, dict]:
        out = {}
        for rec in InProcessExecutor().imap(sweep_runner.execute_run, tasks):
            assert rec["status"] == "ok", rec["error"]
            out[rec["key"]] = {k: v for k, v in rec.items() if k != "wall_time_s"}
            out[rec["key"]]["summary"].pop("wall_time_s")
        return out

    kept = records()
    assert len(sweep_runner._REPLAY_CACHE) == 2
    monkeypatch.setattr(sweep_runner, "REPLAY_CACHE_BYTES", 0)  # nothing is kept
    sweep_runner._REPLAY_CACHE.clear()
    assert records() == kept
    assert not sweep_runner._REPLAY_CACHE
    scn = Scenario.model_validate(tasks[0].config)
    monkeypatch.setattr(sweep_runner, "REPLAY_CACHE_BYTES", 64 << 20)
    loaded = sweep_runner.cached_trace(scn)
    drawn = sweep_runner.cached_replay(scn, loaded)
    assert drawn is sweep_runner.cached_replay(scn, loaded)
    with pytest.raises(ValueError, match="read-only"):
        drawn.uncertainty[0] = 1.0
    assert loaded.uncertainty.flags.writeable


def test_prompt_draws_kept_are_bounded_in_bytes(monkeypatch, empty_caches):
    """Oldest draw out first once the bound is reached; a draw larger than it is not kept."""
    base = Scenario.model_validate({**TINY, "trace": {**TINY["trace"], "resample_prompts": True}})
    trace = sweep_runner.cached_trace(base)
    one = sweep_runner.trace_nbytes(sweep_runner.cached_replay(base, trace))
    sweep_runner._REPLAY_CACHE.clear()
    monkeypatch.setattr(sweep_runner, "REPLAY_CACHE_BYTES", 2 * one)
    for seed in (1, 2, 3):
        sweep_runner.cached_replay(base.model_copy(update={"seed": seed}), trace)
    assert [seed for _, seed in sweep_runner._REPLAY_CACHE] == [2, 3]
    monkeypatch.setattr(sweep_runner, "REPLAY_CACHE_BYTES", one - 1)
    sweep_runner._REPLAY_CACHE.clear()
    sweep_runner.cached_replay(base, trace)
    assert not sweep_runner._REPLAY_CACHE


@pytest.mark.skipif(
    multiprocessing.get_start_method() != "fork",
    reason="counts calls through a patch that only forked workers inherit",
)
def test_pool_workers_load_the_trace_once_each(monkeypatch, tmp_path, empty_caches):
    """A 2-process pool, 12 runs of 2 seeds: each process loads the trace at most once and
    draws each seed's prompts at most once; no run reads the trace file again."""
    loads, draws = tmp_path / "loads", tmp_path / "draws"
    _counting(monkeypatch, sweep_runner, "load_scenario_trace", loads)
    _counting(monkeypatch, build, "resample_prompts", draws)
    base = Scenario.model_validate(TINY)
    tasks = []
    for n in (1, 2, 3, 4, 5, 6):
        for rep, seed in enumerate(derived_seeds(base.seed, 2)):
            config = with_sweep_defaults(
                apply_overrides(
                    base.model_dump(mode="json"), [("devices.count", n), ("seed", seed)]
                )
            )
            tasks.append(RunTask(run_key(config), n, rep, seed, {"devices.count": n}, config))
    pool = ProcessPoolRunner(2)
    try:
        records = run_tasks(tasks, RunStore(None), pool)
    finally:
        pool.close()
    assert {r["status"] for r in records.values()} == {"ok"} and len(records) == 12
    per_process = _calls(loads)
    assert per_process and set(per_process.values()) == {1} and len(per_process) <= 2
    assert os.getpid() not in per_process  # the parent ran nothing
    assert max(_calls(draws).values()) <= 2


def _halve(n: int) -> int:
    return n // 2


@pytest.mark.parametrize("workers", [1, 2])
def test_executors_run_what_then_hands_back(workers):
    """``then(result)``'s items are run too: halving 40 and 7 down to 0 from the two seeds."""
    ex = make_executor(workers)
    try:
        got = list(ex.imap(_halve, [40, 7], lambda r: [r] if r else []))
    finally:
        ex.close()
    assert sorted(got) == sorted([20, 10, 5, 2, 1, 0, 3, 1, 0])
