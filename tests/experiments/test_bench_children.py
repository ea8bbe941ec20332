"""``cuhlm bench`` children: a failure, a death or an overrun is one error naming the case (never
a hang), and the bench runs from an installed copy of the package (no source checkout)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import cuhlm_sim
from cuhlm_sim.cli import app
from cuhlm_sim.experiments.bench import BenchCase, BenchError, _in_subprocess, run_bench

#: 20 devices x 40 tokens: a second or two per child, naive reference included.
TINY_CASE = BenchCase("tiny", 20, 40, "uhlm", 0.5, repeat=1)


def test_failing_case_is_one_error_naming_case_and_cause():
    broken = BenchCase("broken", 0, 40, "uhlm", 0.5, repeat=1)  # devices.count must be >= 1
    t0 = time.monotonic()
    with pytest.raises(BenchError) as info:
        run_bench(cases=[broken], timeout=120)
    assert time.monotonic() - t0 < 120
    msg = str(info.value)
    assert msg.startswith("bench case broken: ValidationError")
    assert "devices.count" in msg or "count" in msg
    assert "\n" not in msg
    assert not mp.active_children()


def test_child_that_dies_without_a_result():
    died = r"^bench case gone: the child process died without a result \(exit code 3\)$"
    with pytest.raises(BenchError, match=died):
        _in_subprocess("gone", os._exit, 3, timeout=120)
    assert not mp.active_children()


def test_child_that_overruns_is_stopped():
    t0 = time.monotonic()
    with pytest.raises(BenchError, match=r"^bench case slow: no result within 3 s"):
        _in_subprocess("slow", time.sleep, 600, timeout=3)
    assert time.monotonic() - t0 < 30
    assert not mp.active_children()  # the sleeping child was terminated


def test_child_error_through_the_cli_is_one_line(cli_runner, tmp_path, monkeypatch):
    broken = BenchCase("broken", 0, 40, "uhlm", 0.5, repeat=1)
    monkeypatch.setattr("cuhlm_sim.experiments.bench.QUICK_CASES", (broken,))
    res = cli_runner.invoke(app, ["bench", "--quick", "--out", str(tmp_path / "b.json")])
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: bench case broken: ValidationError")
    assert not (tmp_path / "b.json").exists()


SCRIPT = textwrap.dedent(
    """
    import json, sys
    import cuhlm_sim
    from cuhlm_sim.experiments.bench import BenchCase, run_bench

    if __name__ == "__main__":  # spawned children import this file again
        case = BenchCase("tiny", 20, 40, "uhlm", 0.5, repeat=1)
        result = run_bench(cases=[case], timeout=300)
        print(json.dumps({"package": cuhlm_sim.__file__, "row": result["cases"][0]}))
    """
)


def test_bench_runs_from_an_installed_copy(tmp_path):
    """Only the package, copied elsewhere as pip would install it: no checkout on sys.path."""
    site = tmp_path / "site"
    shutil.copytree(
        Path(cuhlm_sim.__file__).parent,
        site / "cuhlm_sim",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    script = tmp_path / "bench_copy.py"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    res = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert Path(out["package"]).is_relative_to(site)  # the copy ran, not the checkout
    row = out["row"]
    # the naive reference simulates the same cell (tests/experiments/test_naive_reference.py)
    assert row["naive"]["tokens"] == pytest.approx(row["ours"]["tokens"], rel=0.05)
    assert row["naive"]["skip_rate"] == pytest.approx(row["ours"]["skip_rate"], abs=0.05)
    assert row["speedup_vs_naive"] > 0
