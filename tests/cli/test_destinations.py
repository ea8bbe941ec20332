"""Outputs that cannot be written, and damaged or impossible inputs, are one line and exit 2.

Each case used to print a 50-220-line traceback (issue 14): ``--out`` under a file, the
current folder, a read-only place; a malformed ``--scheduler``; a damaged ``points.parquet``;
``traces synth --vocab-size 1``. Each test checks the exit code, that the one line names the
option or file, and that what the user had is still there, unchanged.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import pytest

from cuhlm_sim.cli import app


def _fails(runner, args, *needles) -> str:
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in res.output, err
    assert err.startswith("error: "), err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    return err


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> bytes): what the user had."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def afile(tmp_path: Path) -> Path:
    path = tmp_path / "afile"
    path.write_text("the user's notes\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- --out under a file


def test_run_out_under_a_file(cli_runner, write_scenario, afile):
    scn = write_scenario()
    _fails(cli_runner, ["run", scn, "--out", afile / "sub"], "--out", "afile is a file")
    assert afile.read_text(encoding="utf-8") == "the user's notes\n"


def test_sweep_and_capacity_out_under_a_file(cli_runner, write_scenario, tmp_path, afile):
    scn = write_scenario()
    sweep = tmp_path / "sw.yaml"
    sweep.write_text(f"scenario: {scn.name}\ngrid:\n  devices.count: [1, 2]\n", encoding="utf-8")
    before = _snapshot(tmp_path)
    _fails(cli_runner, ["sweep", sweep, "--out", afile / "sub"], "--out", "afile is a file")
    slo = "p95_token_latency_s<=5"
    args = ["capacity", scn, "--slo", slo, "--max-devices", "2", "--out", afile / "sub"]
    _fails(cli_runner, args, "--out", "afile is a file")
    assert _snapshot(tmp_path) == before


def test_bench_out_checked_before_the_bench_runs(cli_runner, tmp_path, afile, monkeypatch):
    import cuhlm_sim.experiments.bench as bench

    def never(**_kw):
        raise AssertionError("the bench ran before its --out was checked")

    monkeypatch.setattr(bench, "run_bench", never)
    _fails(cli_runner, ["bench", "--out", afile / "b.json"], "--out", "afile is a file")
    (tmp_path / "adir").mkdir()
    _fails(cli_runner, ["bench", "--out", tmp_path / "adir"], "--out", "is a folder")


def test_traces_synth_and_fit_plot_under_a_file(cli_runner, tiny_trace, afile):
    _fails(cli_runner, ["traces", "synth", afile / "t.parquet"], "OUT", "afile is a file")
    _fails(cli_runner, ["traces", "fit", tiny_trace, "--plot", afile / "x.png"], "--plot", "afile")
    assert afile.read_text(encoding="utf-8") == "the user's notes\n"


def test_fit_plot_into_a_missing_folder_creates_it(cli_runner, tiny_trace, tmp_path):
    plot = tmp_path / "missing_dir" / "x.png"
    res = cli_runner.invoke(app, ["traces", "fit", str(tiny_trace), "--plot", str(plot)])
    assert res.exit_code == 0, res.output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_plot_with_an_unknown_suffix(cli_runner, tiny_trace, tmp_path):
    _fails(cli_runner, ["traces", "fit", tiny_trace, "--plot", tmp_path / "x.txt"], "--plot")
    assert not (tmp_path / "x.txt").exists()


# --------------------------------------------------------------------------- --out . and ..


@pytest.mark.parametrize("out", [".", ".."])
def test_run_out_is_the_current_folder(cli_runner, write_scenario, tmp_path, monkeypatch, out):
    scn = write_scenario()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = _snapshot(tmp_path)
    _fails(cli_runner, ["run", scn, "--out", out], "--out", "current folder")
    assert _snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# --------------------------------------------------------------------------- read-only places


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes through mode bits"
)
def test_run_out_in_a_read_only_folder(cli_runner, write_scenario, tmp_path):
    scn = write_scenario()
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        _fails(cli_runner, ["run", scn, "--out", ro / "sub"], "--out", "cannot create")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux's /proc")
@pytest.mark.parametrize("cmd", ["run", "sweep", "capacity"])
def test_out_where_nothing_can_be_created(cli_runner, write_scenario, tmp_path, cmd):
    """/proc refuses every new entry, to root too: a read-only file system as seen by a
    process that is allowed everything else."""
    scn = write_scenario()
    out = "/proc/cuhlm-test/out"
    args = {
        "run": ["run", scn, "--out", out],
        "sweep": ["sweep", tmp_path / "sw.yaml", "--out", out],
        "capacity": ["capacity", scn, "--slo", "p95_token_latency_s<=5", "--out", out],
    }[cmd]
    (tmp_path / "sw.yaml").write_text(
        f"scenario: {scn.name}\ngrid:\n  devices.count: [1]\n", encoding="utf-8"
    )
    _fails(cli_runner, args, "--out", "cannot create anything in /proc")


@pytest.mark.parametrize("where", ["writing a file", "renaming the new folder into place"])
def test_a_write_that_fails_midway_keeps_the_earlier_results(
    cli_runner, write_scenario, tmp_path, monkeypatch, where
):
    """The disk fills up while --force replaces a result folder: one line, and the earlier
    results are still there, byte for byte, with no temporary folder left."""
    import cuhlm_sim.outputs.writer as writer

    scn, out = write_scenario(), tmp_path / "r"
    assert cli_runner.invoke(app, ["run", str(scn), "--out", str(out), "-q"]).exit_code == 0
    before = _snapshot(out)

    def full(*_args, **_kw):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "devices.parquet")

    if where == "writing a file":
        monkeypatch.setattr(writer, "write_parquet", full)
    else:
        rename = Path.rename

        def rename_new_fails(self, target):
            if ".tmp-" in self.name:  # the complete new folder, after the old one moved aside
                full()
            return rename(self, target)

        monkeypatch.setattr(Path, "rename", rename_new_fails)
    err = _fails(cli_runner, ["run", scn, "--out", out, "--force", "-q"], "--out", "devices")
    assert "No space left" in err
    assert _snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_environment_oserrors_anywhere_are_one_line(cli_runner, tmp_path, monkeypatch):
    """A full disk or a permission error that no early check could see (here, while a
    synthetic trace is written) names the file; other OSErrors keep their traceback."""
    import cuhlm_sim.traces.io as io

    def denied(table, path, metadata):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(io, "write_trace", denied)
    out = tmp_path / "t.parquet"
    _fails(cli_runner, ["traces", "synth", out, "--rows", "100"], str(out), "Permission denied")

    def bug(table, path, metadata):
        raise OSError(errno.EBADF, "a bug, not the user's doing")

    monkeypatch.setattr(io, "write_trace", bug)
    res = cli_runner.invoke(app, ["traces", "synth", str(out), "--rows", "100"])
    assert res.exit_code == 1 and isinstance(res.exception, OSError)


# --------------------------------------------------------------------------- --scheduler


@pytest.mark.parametrize("address", ["foo", "tcp://", "http://host:1", "tcp://host:"])
def test_malformed_scheduler_address(cli_runner, write_scenario, tmp_path, address):
    pytest.importorskip("distributed")
    scn = write_scenario()
    sweep = tmp_path / "sw.yaml"
    sweep.write_text(f"scenario: {scn.name}\ngrid:\n  devices.count: [1]\n", encoding="utf-8")
    _fails(
        cli_runner,
        ["sweep", sweep, "--out", tmp_path / "o", "--scheduler", address],
        f"--scheduler {address!r}",
        "tcp://host:8786",
    )
    assert not (tmp_path / "o" / "runs.parquet").exists()


# --------------------------------------------------------------------------- damaged results


@pytest.fixture
def sweep_dir(cli_runner, write_scenario, tmp_path) -> Path:
    scn = write_scenario()
    sweep = tmp_path / "sw.yaml"
    sweep.write_text(f"scenario: {scn.name}\ngrid:\n  devices.count: [1, 2]\n", encoding="utf-8")
    out = tmp_path / "sweep"
    res = cli_runner.invoke(app, ["sweep", str(sweep), "--out", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    return out


def test_plot_of_a_damaged_points_file(cli_runner, sweep_dir):
    pytest.importorskip("matplotlib")
    (sweep_dir / "points.parquet").write_bytes(b"not parquet at all\n")
    _fails(cli_runner, ["plot", sweep_dir], "points.parquet", "not a readable Parquet file")
    assert not (sweep_dir / "figures").exists()


def test_plot_of_a_parquet_that_is_not_a_points_table(cli_runner, sweep_dir):
    pytest.importorskip("matplotlib")
    import pandas as pd

    pd.DataFrame({"x": [1, 2]}).to_parquet(sweep_dir / "points.parquet")
    _fails(cli_runner, ["plot", sweep_dir], "points.parquet", "n_runs")


def test_plot_of_a_damaged_sweep_json(cli_runner, sweep_dir):
    pytest.importorskip("matplotlib")
    (sweep_dir / "sweep.json").write_text("{ truncated", encoding="utf-8")
    _fails(cli_runner, ["plot", sweep_dir], "sweep.json", "not a readable JSON file")


@pytest.mark.parametrize("text", ["[1, 2", '{"slos": []}', "[]"])
def test_plot_of_a_damaged_capacity_json(cli_runner, tmp_path, text):
    pytest.importorskip("matplotlib")
    folder = tmp_path / "cap"
    folder.mkdir()
    (folder / "capacity.json").write_text(text, encoding="utf-8")
    _fails(cli_runner, ["plot", folder], "capacity.json")


# --------------------------------------------------------------------------- traces options


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--vocab-size", "1"),
        ("--vocab-size", "0"),
        ("--vocab-size", "-1"),
        ("--vocab-size", str(10**12)),
        ("--seed", "-1"),
        ("--a", "nan"),
        ("--b", "inf"),
        ("--weight-confident", "2"),
        ("--weight-confident", "nan"),
    ],
)
def test_traces_synth_impossible_values(cli_runner, tmp_path, option, value):
    out = tmp_path / "t.parquet"
    _fails(cli_runner, ["traces", "synth", out, "--rows", "100", option, value], option)
    assert not out.exists()


def test_traces_synth_smallest_vocabulary_works(cli_runner, tmp_path):
    out = tmp_path / "t.parquet"
    res = cli_runner.invoke(
        app, ["traces", "synth", str(out), "--rows", "100", "--vocab-size", "2"]
    )
    assert res.exit_code == 0, res.output
    assert out.is_file()


@pytest.mark.parametrize("bins", ["-1", "0", "2", str(10**20)])
def test_traces_fit_bins_out_of_range(cli_runner, tiny_trace, bins):
    _fails(cli_runner, ["traces", "fit", tiny_trace, "--bins", bins], "--bins")


@pytest.mark.parametrize(
    ("option", "value"), [("--vocab-size", "-1"), ("--vocab-size", "1"), ("--prob-bits", "0")]
)
def test_traces_inspect_impossible_values(cli_runner, tiny_trace, option, value):
    _fails(cli_runner, ["traces", "inspect", tiny_trace, option, value], option)


def test_traces_synth_too_many_rows_for_the_memory(cli_runner, tmp_path):
    out = tmp_path / "t.parquet"
    _fails(
        cli_runner,
        ["traces", "synth", out, "--rows", "99999999999999999999"],
        "--rows",
        "needs about",
        "available",
    )
    assert not out.exists()


def test_accuracy_out_checked_before_decoding(cli_runner, afile, monkeypatch):
    import cuhlm_sim.accuracy.run as run

    monkeypatch.setattr(run, "run_accuracy", lambda *a, **k: pytest.fail("decoding started"))
    _fails(cli_runner, ["accuracy", "--out", afile / "a.parquet"], "--out", "afile is a file")
    _fails(
        cli_runner,
        ["accuracy", "--out", afile.parent / "a.parquet", "--readme", afile / "R.md"],
        "--readme",
    )
