"""Sweeps: axis expansion, derived seeds, validation, resume, failures, aggregation, dask."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cuhlm_sim.errors import ScenarioError
from cuhlm_sim.experiments import executors
from cuhlm_sim.experiments import sweep as sw
from cuhlm_sim.experiments.executors import InProcessExecutor
from cuhlm_sim.experiments.sweep import (
    derived_seeds,
    load_sweep,
    run_sweep,
)
from cuhlm_sim.experiments.sweep import runner as sweep_runner


def _count_runs(monkeypatch: pytest.MonkeyPatch, fail_when: Any = None) -> list[int]:
    """Wrap the real runner; return the list that records each run's devices.count."""
    calls: list[int] = []
    real = sweep_runner.run_scenario

    def counting(scn, **kw):
        calls.append(scn.devices.count)
        if fail_when is not None and fail_when(scn):
            raise RuntimeError(f"boom at {scn.devices.count} devices")
        return real(scn, **kw)

    monkeypatch.setattr(sweep_runner, "run_scenario", counting)
    return calls


# --- expansion --------------------------------------------------------------------------------


def test_grid_is_cartesian(write_sweep):
    grid = {"devices.count": [1, 2, 3], "policy.kind": ["hlm", "uhlm"]}
    plan = load_sweep(write_sweep(grid=grid, repetitions=2))
    assert plan.axes == ["devices.count", "policy.kind"]
    assert len(plan.points) == 6
    assert plan.points[:2] == [
        {"devices.count": 1, "policy.kind": "hlm"},
        {"devices.count": 1, "policy.kind": "uhlm"},
    ]
    assert len(plan.tasks) == 12
    assert len({t.key for t in plan.tasks}) == 12
    assert all(t.config["devices"]["count"] == t.params["devices.count"] for t in plan.tasks)


def test_zip_walks_lists_in_step(write_sweep):
    zipped = {"policy.kind": ["hlm", "uhlm", "cuhlm"], "policy.threshold": [0, 0.1, 0.2]}
    plan = load_sweep(write_sweep(zip=zipped))
    assert plan.points == [
        {"policy.kind": "hlm", "policy.threshold": 0},
        {"policy.kind": "uhlm", "policy.threshold": 0.1},
        {"policy.kind": "cuhlm", "policy.threshold": 0.2},
    ]


def test_range_and_logrange_values(write_sweep):
    plan = load_sweep(
        write_sweep(
            range={"devices.count": {"start": 1, "stop": 10, "step": 3}},
            logrange={"uplink.bandwidth_hz": {"start": 1e5, "stop": 1e7, "num": 3}},
        )
    )
    counts = sorted({p["devices.count"] for p in plan.points})
    assert counts == [1, 4, 7, 10]
    assert all(isinstance(c, int) for c in counts)
    bws = sorted({p["uplink.bandwidth_hz"] for p in plan.points})
    assert bws == pytest.approx([1e5, 1e6, 1e7])
    assert len(plan.points) == 4 * 3


def test_float_range_includes_stop_and_integer_logrange_dedups():
    thr = sw.range_values(sw.RangeAxis(start=0.0, stop=0.3, step=0.1))
    assert thr == pytest.approx([0.0, 0.1, 0.2, 0.3])
    log_counts = sw.logrange_values(sw.LogRangeAxis(start=1, stop=4, num=5, integer=True))
    assert log_counts == [1, 2, 3, 4]  # 1, 1.41, 2, 2.83, 4 rounded, repeats dropped


def test_axes_combine_as_product(write_sweep):
    plan = load_sweep(
        write_sweep(
            grid={"devices.count": [1, 2]},
            zip={"policy.kind": ["hlm", "uhlm"], "policy.threshold": [0.1, 0.2]},
            range={"channel.snr_db": {"start": 0, "stop": 10, "step": 5}},
            repetitions=3,
        )
    )
    assert len(plan.points) == 2 * 2 * 3
    assert len(plan.tasks) == 2 * 2 * 3 * 3


def test_sweep_block_inside_a_scenario(tmp_path):
    path = tmp_path / "scn.yaml"
    path.write_text(
        "duration_s: 2\nwarmup_s: 0\ntrace: {path: null, synth_rows: 500}\n"
        "sweep:\n  grid: {devices.count: [1, 2]}\n  repetitions: 2\n",
        encoding="utf-8",
    )
    plan = load_sweep(path)
    assert len(plan.tasks) == 4
    assert plan.tasks[0].config["duration_s"] == 2


# --- seeds ------------------------------------------------------------------------------------


def test_derived_seeds_are_reproducible_and_prefix_stable(write_sweep):
    seeds = derived_seeds(7, 4)
    assert seeds == derived_seeds(7, 4)
    assert derived_seeds(7, 2) == seeds[:2]
    assert len(set(seeds)) == 4
    assert derived_seeds(8, 4) != seeds
    expected = np.random.SeedSequence(7, spawn_key=(2,)).generate_state(1, np.uint32)[0]
    assert seeds[2] == int(expected)
    plan = load_sweep(write_sweep(grid={"devices.count": [1, 2]}, repetitions=4))
    assert plan.seeds == seeds  # base seed 7 from the scenario
    assert [t.seed for t in plan.tasks if t.point == 1] == seeds
    assert load_sweep(write_sweep(grid={"devices.count": [1]}, repetitions=2, seed=8)).seeds == (
        derived_seeds(8, 2)
    )


# --- validation before running ------------------------------------------------------------------


def test_unknown_key_and_empty_axis_fail_before_any_run(write_sweep, monkeypatch, tmp_path):
    calls = _count_runs(monkeypatch)
    path = write_sweep(grid={"devices.cout": [1, 2], "policy.kind": []})
    with pytest.raises(ScenarioError) as info:
        run_sweep(load_sweep(path), tmp_path / "out", InProcessExecutor())
    msg = str(info.value)
    assert f"{path}: grid.devices.cout: unknown scenario key" in msg
    assert f"{path}: grid.policy.kind: empty axis" in msg
    assert calls == []
    assert not (tmp_path / "out").exists()


def test_invalid_value_names_the_point(write_sweep):
    with pytest.raises(ScenarioError, match=r"point 1 \(policy.threshold=1.5\).*policy.threshold"):
        load_sweep(write_sweep(grid={"policy.threshold": [0.5, 1.5]}))


def test_unknown_top_level_sweep_key(write_sweep):
    with pytest.raises(ScenarioError, match=r"sweep.yaml: grids: unknown key"):
        load_sweep(write_sweep(grids={"devices.count": [1]}))


# --- running, resume, failures ------------------------------------------------------------------


def test_resume_runs_only_the_missing_run(write_sweep, monkeypatch, tmp_path):
    calls = _count_runs(monkeypatch)
    plan = load_sweep(write_sweep(grid={"devices.count": [1, 2, 3]}, repetitions=2))
    out = tmp_path / "out"
    first = run_sweep(plan, out, InProcessExecutor())
    assert len(calls) == 6 and first.executed == 6
    files = sorted((out / "runs").glob("*.json"))
    assert len(files) == 6
    victim = plan.tasks[3]
    (out / "runs" / f"{victim.key}.json").unlink()
    calls.clear()
    second = run_sweep(plan, out, InProcessExecutor())
    assert calls == [victim.params["devices.count"]]
    assert second.executed == 1
    cols = [c for c in first.runs.columns if c != "wall_time_s"]
    pd.testing.assert_frame_equal(first.runs[cols], second.runs[cols])
    assert pd.read_parquet(out / "runs.parquet").shape[0] == 6


def test_failed_run_is_recorded_and_sweep_continues(write_sweep, monkeypatch, tmp_path):
    calls = _count_runs(monkeypatch, fail_when=lambda scn: scn.devices.count == 2)
    plan = load_sweep(write_sweep(grid={"devices.count": [1, 2, 3]}, repetitions=2))
    res = run_sweep(plan, tmp_path / "out", InProcessExecutor())
    assert len(calls) == 6
    runs = pd.read_parquet(tmp_path / "out" / "runs.parquet")
    failed = runs[runs["status"] == "failed"]
    assert sorted(failed["devices.count"]) == [2, 2]
    assert failed["error"].str.contains("RuntimeError: boom at 2 devices").all()
    assert (runs.loc[runs["status"] == "ok", "throughput_tokens_per_s"] > 0).all()
    assert res.failed == 2
    points = pd.read_parquet(tmp_path / "out" / "points.parquet")
    assert points.set_index("devices.count").loc[2, "n_failed"] == 2
    # A rerun leaves recorded failures alone unless asked to retry them.
    calls.clear()
    run_sweep(plan, tmp_path / "out", InProcessExecutor())
    assert calls == []
    run_sweep(plan, tmp_path / "out", InProcessExecutor(), retry_failed=True)
    assert calls == [2, 2]


def test_points_ci_matches_student_t(write_sweep, monkeypatch, tmp_path):
    """Fake runner with known metric values per repetition; CI = t_{.975,n-1} s / sqrt(n)."""
    values = [10.0, 12.0, 11.0, 15.0]
    plan = load_sweep(write_sweep(grid={"devices.count": [1, 2]}, repetitions=len(values)))
    by_seed = dict(zip(plan.seeds, values, strict=True))

    def fake(scn, **kw):
        v = by_seed[scn.seed] * scn.devices.count
        return SimpleNamespace(summary={"throughput_tokens_per_s": v, "skip_rate": None})

    monkeypatch.setattr(sweep_runner, "run_scenario", fake)
    run_sweep(plan, tmp_path / "out", InProcessExecutor())
    points = pd.read_parquet(tmp_path / "out" / "points.parquet").set_index("devices.count")
    for n in (1, 2):
        x = np.array(values) * n
        half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
        row = points.loc[n]
        assert row["throughput_tokens_per_s_mean"] == pytest.approx(x.mean())
        assert row["throughput_tokens_per_s_std"] == pytest.approx(x.std(ddof=1))
        assert row["throughput_tokens_per_s_ci95"] == pytest.approx(half)
        assert math.isnan(row["skip_rate_mean"])  # null metric stays missing, not 0
        assert row["n_runs"] == len(values)


def test_runs_parquet_has_params_seed_metrics_status(write_sweep, tmp_path):
    plan = load_sweep(write_sweep(grid={"policy.kind": ["hlm", "uhlm"]}, repetitions=2))
    run_sweep(plan, tmp_path / "out", InProcessExecutor())
    runs = pd.read_parquet(tmp_path / "out" / "runs.parquet")
    for col in (
        "policy.kind",
        "seed",
        "status",
        "error",
        "throughput_tokens_per_s",
        "p95_token_latency_s",
        "latency_breakdown_s.gpu_queue_s",
    ):
        assert col in runs.columns
    assert list(runs["seed"]) == plan.seeds * 2
    assert (runs["status"] == "ok").all()


def _comparable(path: Path) -> pd.DataFrame:
    runs = pd.read_parquet(path).sort_values("key").reset_index(drop=True)
    return runs.drop(columns=["wall_time_s"])


def test_dask_local_cluster_matches_local_executor(write_sweep, tmp_path):
    from distributed import Client, LocalCluster

    plan = load_sweep(write_sweep(grid={"devices.count": [1, 3]}, repetitions=2))
    run_sweep(plan, tmp_path / "local", InProcessExecutor())
    with (
        LocalCluster(
            processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        ex = executors.DaskRunner(client=client)
        run_sweep(plan, tmp_path / "dask", ex)
        ex.close()
    pd.testing.assert_frame_equal(
        _comparable(tmp_path / "local" / "runs.parquet"),
        _comparable(tmp_path / "dask" / "runs.parquet"),
    )


def test_process_pool_matches_in_process(write_sweep, tmp_path):
    plan = load_sweep(write_sweep(grid={"devices.count": [1, 2]}, repetitions=2))
    run_sweep(plan, tmp_path / "one", executors.make_executor(1))
    pool = executors.make_executor(2)
    try:
        run_sweep(plan, tmp_path / "pool", pool)
    finally:
        pool.close()
    pd.testing.assert_frame_equal(
        _comparable(tmp_path / "one" / "runs.parquet"),
        _comparable(tmp_path / "pool" / "runs.parquet"),
    )


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_sweep_writes_outputs_and_rejects_bad_axis(write_sweep, tmp_path):
    from typer.testing import CliRunner

    from cuhlm_sim.cli import app

    runner = CliRunner()
    good = write_sweep(grid={"devices.count": [1, 2]}, repetitions=2)
    res = runner.invoke(app, ["sweep", str(good), "--out", str(tmp_path / "o"), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "runs.parquet").is_file()
    assert (tmp_path / "o" / "points.parquet").is_file()
    bad = write_sweep("bad.yaml", grid={"devices.cout": [1]})
    res = runner.invoke(app, ["sweep", str(bad), "--out", str(tmp_path / "b"), "--workers", "1"])
    assert res.exit_code == 2
    assert "grid.devices.cout: unknown scenario key" in res.stderr


def test_run_key_changes_with_the_model_revision(monkeypatch):
    """Runs stored by a model that gives other results are never reused."""
    import cuhlm_sim.experiments.sweep.plan as sweep_mod

    config = {"seed": 3, "devices": {"count": 5}}
    before = sweep_mod.run_key(config)
    assert sweep_mod.run_key(dict(config)) == before
    monkeypatch.setattr(sweep_mod, "MODEL_REVISION", sweep_mod.MODEL_REVISION + 1)
    assert sweep_mod.run_key(config) != before
