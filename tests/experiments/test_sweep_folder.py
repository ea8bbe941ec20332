"""A sweep folder belongs to one sweep: another sweep (or a capacity search) is refused with one
line and exit code 2, leaving every file as it was; ``--force`` clears the old results first;
the same sweep resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from cuhlm_sim.cli import app

SLO = ["--slo", "p95_token_latency_s<=100", "--reps", "1", "--max-devices", "2"]


def _sweep(cli_runner, sweep_file: Path, out: Path, *extra: str):
    return cli_runner.invoke(
        app, ["sweep", str(sweep_file), "--out", str(out), "--workers", "1", *extra]
    )


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _one_line(res) -> str:
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_another_sweep_is_refused_and_leaves_the_folder_as_it_was(
    write_sweep, cli_runner, tmp_path
):
    a = write_sweep("a.yaml", grid={"devices.count": [1, 2]})
    b = write_sweep("b.yaml", grid={"devices.count": [3]})
    out = tmp_path / "out"
    assert _sweep(cli_runner, a, out).exit_code == 0
    (out / "figures").mkdir()  # as `cuhlm plot` leaves it
    (out / "figures" / "throughput.png").write_bytes(b"png")
    before = _snapshot(out)
    assert {"runs.parquet", "sweep.json", "figures/throughput.png"} <= before.keys()
    assert len([k for k in before if k.startswith("runs/")]) == 2

    res = _sweep(cli_runner, b, out)
    assert res.exit_code == 2, res.output
    err = _one_line(res)
    assert str(out) in err and "another sweep's results" in err and "a.yaml" in err
    assert "--force" in err
    assert _snapshot(out) == before


def test_an_edited_sweep_is_another_sweep(write_sweep, cli_runner, tmp_path):
    out = tmp_path / "out"
    assert _sweep(cli_runner, write_sweep(grid={"devices.count": [1]}), out).exit_code == 0
    before = _snapshot(out)
    res = _sweep(cli_runner, write_sweep(grid={"devices.count": [1, 2]}), out)
    assert res.exit_code == 2 and "another sweep's results" in _one_line(res)
    assert _snapshot(out) == before


def test_force_clears_the_old_results_then_runs(write_sweep, cli_runner, tmp_path):
    a = write_sweep("a.yaml", grid={"devices.count": [1, 2]})
    b = write_sweep("b.yaml", grid={"devices.count": [3]})
    out = tmp_path / "out"
    assert _sweep(cli_runner, a, out).exit_code == 0
    (out / "figures").mkdir()
    (out / "figures" / "throughput.png").write_bytes(b"png")
    old_runs = {p.name for p in (out / "runs").iterdir()}

    res = _sweep(cli_runner, b, out, "--force")
    assert res.exit_code == 0, res.output
    assert "1 runs (1 run now, 0 failed)" in res.stdout
    assert not (out / "figures").exists()
    new_runs = {p.name for p in (out / "runs").iterdir()}
    assert len(new_runs) == 1 and not new_runs & old_runs
    runs = pd.read_parquet(out / "runs.parquet")
    assert runs["devices.count"].tolist() == [3]
    assert json.loads((out / "sweep.json").read_text())["points"] == [{"devices.count": 3}]
    # the folder now belongs to B: A is the other sweep
    assert _sweep(cli_runner, b, out).exit_code == 0
    assert _sweep(cli_runner, a, out).exit_code == 2


def test_the_same_sweep_resumes(write_sweep, cli_runner, tmp_path):
    a = write_sweep(grid={"devices.count": [1, 2]}, repetitions=2)
    out = tmp_path / "out"
    assert _sweep(cli_runner, a, out).exit_code == 0
    (out / "runs" / next(iter(sorted((out / "runs").iterdir()))).name).unlink()
    res = _sweep(cli_runner, a, out)
    assert res.exit_code == 0, res.output
    assert "4 runs (1 run now, 0 failed)" in res.stdout


def test_a_legacy_folder_without_a_marker_is_judged_by_its_sweep_json(
    write_sweep, cli_runner, tmp_path
):
    """Folders written before the marker: the same plan resumes, another is refused."""
    a = write_sweep("a.yaml", grid={"devices.count": [1, 2]})
    out = tmp_path / "out"
    assert _sweep(cli_runner, a, out).exit_code == 0
    (out / ".cuhlm-result").unlink()
    before = _snapshot(out)
    res = _sweep(cli_runner, write_sweep("b.yaml", grid={"devices.count": [3]}), out)
    assert res.exit_code == 2 and "another sweep's results" in _one_line(res)
    assert _snapshot(out) == before
    res = _sweep(cli_runner, a, out)
    assert res.exit_code == 0 and "2 runs (0 run now, 0 failed)" in res.stdout


def test_a_folder_with_the_users_files_is_refused_even_with_force(
    write_sweep, cli_runner, tmp_path
):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious", encoding="utf-8")
    for extra in ([], ["--force"]):
        res = _sweep(cli_runner, write_sweep(grid={"devices.count": [1]}), out, *extra)
        assert res.exit_code == 2
        err = _one_line(res)
        assert "did not write" in err and "notes.txt" in err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_sweep_and_capacity_do_not_share_a_folder(write_sweep, base_scenario, cli_runner, tmp_path):
    cap, swp = tmp_path / "cap", tmp_path / "swp"
    args = ["capacity", str(base_scenario), *SLO, "--workers", "1"]
    assert cli_runner.invoke(app, [*args, "--out", str(cap)]).exit_code == 0
    assert (cap / "capacity.json").is_file()
    before = _snapshot(cap)
    res = _sweep(cli_runner, write_sweep(grid={"devices.count": [1]}), cap)
    assert res.exit_code == 2 and "capacity search" in _one_line(res)
    assert _snapshot(cap) == before
    # the same search resumes in its folder; another one is refused
    again = cli_runner.invoke(app, [*args, "--out", str(cap)])
    assert again.exit_code == 0, again.output
    other = cli_runner.invoke(app, [*args, "--reps", "2", "--out", str(cap)])
    assert other.exit_code == 2 and str(cap) in _one_line(other)
    assert _snapshot(cap) == before

    assert _sweep(cli_runner, write_sweep(grid={"devices.count": [1]}), swp).exit_code == 0
    before = _snapshot(swp)
    res = cli_runner.invoke(app, [*args, "--out", str(swp)])
    assert res.exit_code == 2 and "another sweep's results" in _one_line(res)
    assert _snapshot(swp) == before
    forced = cli_runner.invoke(app, [*args, "--out", str(swp), "--force"])
    assert forced.exit_code == 0, forced.output
    assert (swp / "capacity.json").is_file() and not (swp / "sweep.json").exists()
