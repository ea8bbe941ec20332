"""Inputs that used to pass silently: non-finite numbers, empty files, duplicate keys, a NaN
SLO bound. Each is one line naming the file or option and the field, and exit code 2."""

from __future__ import annotations

import pytest

from cuhlm_sim.cli import app


def _fails(runner, args, *needles):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in res.output, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("duration_s=inf", "duration_s"),
        ("warmup_s=inf", "warmup_s"),
        ("server.batch_per_item_s=.inf", "server.batch_per_item_s"),
        ("downlink.latency_s=.nan", "downlink.latency_s"),
        ("channel.snr_db=-.inf", "channel.snr_db"),
    ],
)
def test_non_finite_numbers_are_refused(cli_runner, write_scenario, tmp_path, override, field):
    scn = write_scenario()
    _fails(cli_runner, ["run", scn, "--set", override, "--out", tmp_path / "o"], field, "finite")
    assert not (tmp_path / "o").exists()


def test_nan_in_a_list_is_refused(cli_runner, write_scenario, tmp_path):
    scn = write_scenario(channel={"model": "per_device", "snr_db_list": [float("nan"), 1, 2]})
    _fails(cli_runner, ["validate", scn], "channel.snr_db_list.0", "finite")


def test_empty_scenario_file_is_refused(cli_runner, tmp_path):
    scn = tmp_path / "empty.yaml"
    scn.write_text("# only a comment\n", encoding="utf-8")
    _fails(cli_runner, ["validate", scn], "empty.yaml", "empty")


def test_duplicate_key_names_both_lines(cli_runner, tmp_path):
    scn = tmp_path / "dup.yaml"
    scn.write_text("duration_s: 5\ndevices:\n  count: 3\nduration_s: 7\n", encoding="utf-8")
    _fails(cli_runner, ["validate", scn], "dup.yaml", "duplicate key 'duration_s'", "1", "4")
    nested = tmp_path / "dup2.yaml"
    nested.write_text("devices:\n  count: 3\n  count: 4\n", encoding="utf-8")
    _fails(cli_runner, ["validate", nested], "duplicate key 'count'", "lines 2 and 3")


def test_nan_slo_bound_is_refused(cli_runner, write_scenario, tmp_path):
    scn = write_scenario()
    _fails(
        cli_runner,
        ["capacity", scn, "--slo", "p95_token_latency_s<=nan", "--out", tmp_path / "c"],
        "--slo",
        "finite",
    )


def test_a_sweep_file_given_to_validate_says_what_it_is(cli_runner, tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    sweep = root / "analysis" / "sweeps" / "threshold.yaml"
    _fails(cli_runner, ["validate", sweep], "threshold.yaml", "sweep file", "cuhlm sweep")
    scenario = root / "scenarios" / "default.yaml"
    out = tmp_path / "s"
    _fails(
        cli_runner, ["sweep", scenario, "--out", out], "default.yaml", "scenario file", "cuhlm run"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--set", "name={0"], ["--set name", "not valid YAML"]),
        (["--set", "name=%"], ["--set name", "not valid YAML"]),
        (["--set", "seed=" + "9" * 5000], ["--set seed", "5000 digits"]),
        (["--set", "devices.co\runt=3"], ["--set", "unprintable"]),
    ],
)
def test_command_line_values_that_yaml_cannot_read_are_one_line(
    cli_runner, write_scenario, args, needles
):
    """PyYAML's own message spans several lines (the text and a caret), and Python refuses
    to read an integer of more than 4,300 digits with a ValueError: both were tracebacks or
    multi-line errors (found by tests/unit/test_loader_fuzz.py)."""
    _fails(cli_runner, ["validate", write_scenario(), *args], *needles)


def test_over_values_are_read_like_set_values(cli_runner, write_scenario, tmp_path):
    scn = write_scenario()
    slo = "p95_token_latency_s<=5"
    for raw, needle in (("[1", "not valid YAML"), ("9" * 5000, "5000 digits")):
        args = ["capacity", scn, "--slo", slo, "--over", f"channel.snr_db={raw}"]
        _fails(cli_runner, args, "--over channel.snr_db", needle)


def test_a_huge_integer_or_an_odd_key_in_the_file_is_one_line(cli_runner, tmp_path):
    scn = tmp_path / "huge.yaml"
    scn.write_text("duration_s: " + "9" * 5000 + "\n", encoding="utf-8")
    _fails(cli_runner, ["validate", scn], "huge.yaml", "line 1", "5000 digits")
    odd = tmp_path / "odd.yaml"
    odd.write_text('"dev\\rices": 3\n', encoding="utf-8")
    err = _fails(cli_runner, ["validate", odd], "odd.yaml", "'dev\\rices'", "unknown key")
    assert "\r" not in err
    big = tmp_path / "big.yaml"
    big.write_text("warmup_s: 1" + "0" * 400 + "\n", encoding="utf-8")
    err = _fails(cli_runner, ["validate", big], "big.yaml", "warmup_s", "(got 1000", "...)")
    assert len(err) < 300
