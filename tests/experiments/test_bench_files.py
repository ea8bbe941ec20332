"""Bench results files: comparing a run with an earlier one, and clear errors for bad files."""

from __future__ import annotations

import json

import pytest

from cuhlm_sim.cli import app
from cuhlm_sim.errors import CuhlmError
from cuhlm_sim.experiments.bench import compare_bench, load_bench, write_bench


def _result(**speeds: tuple[float, float | None]) -> dict:
    cases = []
    for name, (tps, speedup) in speeds.items():
        row = {"case": name, "ours": {"tokens_per_s": tps}}
        if speedup is not None:
            row["speedup_vs_naive"] = speedup
        cases.append(row)
    return {"cases": cases}


def test_compare_bench_ratios_for_common_cases(tmp_path):
    before = _result(a=(100.0, 2.0), b=(50.0, None), gone=(1.0, None))
    now = _result(a=(150.0, 3.0), b=(25.0, None), new=(9.0, None))
    write_bench(before, tmp_path / "old.json")
    ratios = compare_bench(now, load_bench(tmp_path / "old.json"))
    assert ratios == {"a": 1.5, "a:vs_naive": 1.5, "b": 0.5}


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "no such bench results file"),
        ("{not json", "not a bench results file"),
        (json.dumps({"x": 1}), "no `cases` list"),
    ],
)
def test_load_bench_names_the_file_and_the_problem(tmp_path, content, expected):
    path = tmp_path / "old.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CuhlmError, match=expected) as info:
        load_bench(path)
    assert str(path) in str(info.value)


def test_cli_bad_baseline_fails_before_running(cli_runner, tmp_path):
    result = cli_runner.invoke(
        app,
        [
            "bench",
            "--quick",
            "--baseline",
            str(tmp_path / "missing.json"),
            "--out",
            str(tmp_path / "b.json"),
        ],
    )
    assert result.exit_code == 2
    assert "no such bench results file" in result.stderr
    assert not (tmp_path / "b.json").exists()
