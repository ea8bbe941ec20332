"""Every user mistake gives exit code 2, one message naming the file and the field, no traceback.

Messages go to stderr (``result.stderr``; the vendored click CliRunner keeps it apart from
stdout, ``result.output`` holds both).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.models import CommandInfo
from typer.testing import CliRunner

from cuhlm_sim.cli import app
from cuhlm_sim.errors import CuhlmError

COMMANDS = ("validate", "run")


def invoke(runner: CliRunner, cmd: str, scenario: Path, *extra: str, tmp: Path | None = None):
    args = [cmd, str(scenario), *extra]
    if cmd == "run":
        out = (tmp or scenario.parent) / "out"
        args += ["--out", str(out), "--quiet"]
    return runner.invoke(app, args)


def assert_user_error(result, *fragments: str) -> str:
    """Exit code 2, no traceback, every fragment in the one error message on stderr."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    err = result.stderr
    assert err.startswith("error: "), err
    for frag in fragments:
        assert frag in err, f"{frag!r} not in {err!r}"
    assert result.stdout == ""
    return err


def assert_no_results(tmp_path: Path) -> None:
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.tmp-*"))


# ---------------------------------------------------------------- scenario file problems


@pytest.mark.parametrize("cmd", COMMANDS)
def test_yaml_syntax_error_names_file_and_line(cli_runner, tmp_path, tiny_trace, cmd):
    path = tmp_path / "broken.yaml"
    path.write_text(
        "duration_s: 5\n"
        "devices:\n"
        "  count: [1, 2\n"  # unclosed flow sequence
        "server:\n"
        "  gpus: 1\n",
        encoding="utf-8",
    )
    err = assert_user_error(invoke(cli_runner, cmd, path), str(path), "YAML syntax error")
    # The parser reports the line where it gave up on the unclosed sequence.
    assert "line 4" in err
    assert_no_results(tmp_path)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_tab_indentation_names_line(cli_runner, tmp_path, cmd):
    path = tmp_path / "tabs.yaml"
    path.write_text("seed: 1\ndevices:\n\tcount: 3\n", encoding="utf-8")
    assert_user_error(invoke(cli_runner, cmd, path), str(path), "YAML syntax error", "line 3")


@pytest.mark.parametrize("cmd", COMMANDS)
def test_unknown_key(cli_runner, write_scenario, tmp_path, cmd):
    path = write_scenario(devices={"cuont": 3})
    assert_user_error(invoke(cli_runner, cmd, path), f"{path}: devices.cuont: unknown key")
    assert_no_results(tmp_path)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_unknown_section(cli_runner, write_scenario, cmd):
    path = write_scenario(gpu={"count": 3})
    assert_user_error(invoke(cli_runner, cmd, path), f"{path}: gpu: unknown key")


@pytest.mark.parametrize("cmd", COMMANDS)
def test_wrong_type(cli_runner, write_scenario, tmp_path, cmd):
    path = write_scenario(devices={"count": "many"})
    assert_user_error(
        invoke(cli_runner, cmd, path), f"{path}: devices.count:", "integer", "(got 'many')"
    )
    assert_no_results(tmp_path)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_section_given_a_scalar(cli_runner, write_scenario, cmd):
    path = write_scenario(devices=3)
    assert_user_error(invoke(cli_runner, cmd, path), f"{path}: devices:", "(got 3)")


@pytest.mark.parametrize("cmd", COMMANDS)
def test_negative_duration(cli_runner, write_scenario, tmp_path, cmd):
    path = write_scenario(duration_s=-1)
    assert_user_error(
        invoke(cli_runner, cmd, path), f"{path}: duration_s:", "greater than 0", "(got -1)"
    )
    assert_no_results(tmp_path)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_zero_duration(cli_runner, write_scenario, cmd):
    path = write_scenario(duration_s=0)
    assert_user_error(invoke(cli_runner, cmd, path), f"{path}: duration_s:", "(got 0)")


@pytest.mark.parametrize("cmd", COMMANDS)
@pytest.mark.parametrize("bandwidth", [-5, 0])
def test_nonpositive_bandwidth(cli_runner, write_scenario, tmp_path, cmd, bandwidth):
    path = write_scenario(uplink={"bandwidth_hz": bandwidth})
    assert_user_error(
        invoke(cli_runner, cmd, path),
        f"{path}: uplink.bandwidth_hz:",
        "greater than 0",
        f"(got {bandwidth})",
    )
    assert_no_results(tmp_path)


@pytest.mark.parametrize("cmd", COMMANDS)
@pytest.mark.parametrize(
    ("threshold", "bound"), [(1.5, "less than or equal to 1"), (-0.1, "greater than or equal to 0")]
)
def test_threshold_outside_unit_interval(cli_runner, write_scenario, cmd, threshold, bound):
    path = write_scenario(policy={"threshold": threshold})
    assert_user_error(
        invoke(cli_runner, cmd, path), f"{path}: policy.threshold:", bound, f"(got {threshold})"
    )


@pytest.mark.parametrize("cmd", COMMANDS)
def test_several_problems_are_all_reported(cli_runner, write_scenario, cmd):
    path = write_scenario(duration_s=-1, policy={"threshold": 1.5})
    err = assert_user_error(
        invoke(cli_runner, cmd, path), f"{path}: duration_s:", f"{path}: policy.threshold:"
    )
    assert err.count("\n") == 2  # one line per problem


@pytest.mark.parametrize("cmd", COMMANDS)
def test_key_of_another_kind(cli_runner, write_scenario, tmp_path, cmd):
    """A section by kind (here channel.model) rejects another kind's key in one line."""
    path = write_scenario(channel={"model": "pathloss", "snr_db": 3})
    err = assert_user_error(
        invoke(cli_runner, cmd, path),
        f"{path}: channel.snr_db: only for model 'fixed' or 'per_device', but model is "
        "'pathloss' (got 3)",
    )
    assert err.count("\n") == 1
    assert_no_results(tmp_path)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_top_level_not_a_mapping(cli_runner, tmp_path, cmd):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n", encoding="utf-8")
    assert_user_error(invoke(cli_runner, cmd, path), str(path), "expected a mapping")


@pytest.mark.parametrize("cmd", COMMANDS)
def test_missing_scenario_file(cli_runner, tmp_path, cmd):
    path = tmp_path / "nope.yaml"
    assert_user_error(invoke(cli_runner, cmd, path), f"{path}: scenario file not found")
    assert_no_results(tmp_path)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_scenario_path_is_a_folder(cli_runner, tmp_path, cmd):
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    assert_user_error(invoke(cli_runner, cmd, folder), str(folder), "cannot read scenario file")


# ---------------------------------------------------------------- trace problems


@pytest.mark.parametrize("cmd", COMMANDS)
def test_missing_trace_file(cli_runner, write_scenario, tmp_path, cmd):
    missing = tmp_path / "no_such_trace.parquet"
    path = write_scenario(trace={"path": str(missing)})
    assert_user_error(invoke(cli_runner, cmd, path), "trace.path:", "not found", str(missing))
    assert_no_results(tmp_path)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_relative_trace_path_is_resolved_against_the_scenario(cli_runner, write_scenario, cmd):
    path = write_scenario(trace={"path": "missing/trace.parquet"})
    expected = str(path.parent / "missing" / "trace.parquet")
    assert_user_error(invoke(cli_runner, cmd, path), "trace.path:", expected)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_empty_trace_folder(cli_runner, write_scenario, tmp_path, cmd):
    folder = tmp_path / "traces"
    folder.mkdir()
    path = write_scenario(trace={"path": str(folder)})
    assert_user_error(invoke(cli_runner, cmd, path), "trace.path:", str(folder), "no .parquet")


@pytest.mark.parametrize("cmd", COMMANDS)
def test_trace_without_required_columns(cli_runner, write_scenario, tiny_trace, tmp_path, cmd):
    bad = tmp_path / "no_uncertainty.parquet"
    pq.write_table(pq.read_table(tiny_trace).drop_columns(["uncertainty"]), bad)
    path = write_scenario(trace={"path": str(bad)})
    err = assert_user_error(
        invoke(cli_runner, cmd, path), "trace.path:", str(bad), "lacks required", "uncertainty"
    )
    assert "accepted" not in err.split("(required")[0]  # only the missing one is named
    assert_no_results(tmp_path)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_trace_missing_two_columns_names_both(cli_runner, tmp_path, write_scenario, cmd):
    bad = tmp_path / "bare.parquet"
    pq.write_table(pa.table({"seq_id": [0, 0], "pos": [0, 1], "p_draft": [0.5, 0.4]}), bad)
    path = write_scenario(trace={"path": str(bad)})
    err = assert_user_error(invoke(cli_runner, cmd, path), "trace.path:", str(bad))
    missing = err.split("lacks required trace column(s)")[1].split("(required")[0]
    assert "uncertainty" in missing and "accepted" in missing
    assert "p_draft" not in missing


@pytest.mark.parametrize("cmd", COMMANDS)
def test_trace_not_parquet(cli_runner, write_scenario, tmp_path, cmd):
    bad = tmp_path / "text.parquet"
    bad.write_text("this is not parquet\n", encoding="utf-8")
    path = write_scenario(trace={"path": str(bad)})
    assert_user_error(invoke(cli_runner, cmd, path), "trace.path:", str(bad), "not a readable")


# ---------------------------------------------------------------- --set problems


@pytest.mark.parametrize("cmd", COMMANDS)
@pytest.mark.parametrize("item", ["devices.count", "=3", "devices..count=3", ".count=3"])
def test_set_without_key_value(cli_runner, write_scenario, tmp_path, cmd, item):
    path = write_scenario()
    assert_user_error(invoke(cli_runner, cmd, path, "--set", item), f"--set {item!r}", "KEY=VALUE")
    assert_no_results(tmp_path)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_set_unknown_key(cli_runner, write_scenario, tmp_path, cmd):
    path = write_scenario()
    assert_user_error(
        invoke(cli_runner, cmd, path, "--set", "devices.cuont=3"),
        f"{path} (with --set): devices.cuont: unknown key",
    )
    assert_no_results(tmp_path)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_set_type_error(cli_runner, write_scenario, tmp_path, cmd):
    path = write_scenario()
    assert_user_error(
        invoke(cli_runner, cmd, path, "-s", "devices.count=many"),
        f"{path} (with --set): devices.count:",
        "(got 'many')",
    )
    assert_no_results(tmp_path)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_set_out_of_range(cli_runner, write_scenario, cmd):
    path = write_scenario()
    assert_user_error(
        invoke(cli_runner, cmd, path, "--set", "uplink.bandwidth_hz=-5"),
        f"{path} (with --set): uplink.bandwidth_hz:",
        "(got -5)",
    )


@pytest.mark.parametrize("cmd", COMMANDS)
def test_set_below_a_value(cli_runner, write_scenario, cmd):
    path = write_scenario()
    assert_user_error(
        invoke(cli_runner, cmd, path, "--set", "devices.count.x=3"),
        "--set devices.count.x:",
        "devices.count is a value",
    )


@pytest.mark.parametrize("cmd", COMMANDS)
def test_set_invalid_yaml_value(cli_runner, write_scenario, cmd):
    path = write_scenario()
    assert_user_error(
        invoke(cli_runner, cmd, path, "--set", "devices.count=[1,"),
        "--set devices.count:",
        "not valid YAML",
    )


def test_negative_seed_option(cli_runner, write_scenario, tmp_path):
    path = write_scenario()
    result = invoke(cli_runner, "run", path, "--seed", "-3")
    assert_user_error(result, f"{path} (with --set): seed:", "(got -3)")
    assert_no_results(tmp_path)


# ---------------------------------------------------------------- policy.truncation_k


@pytest.mark.parametrize("cmd", COMMANDS)
@pytest.mark.parametrize("kind", ["uhlm", "hlm", "random_skip", "slm_only", "llm_only"])
def test_truncation_k_needs_cuhlm(cli_runner, write_scenario, tmp_path, cmd, kind):
    path = write_scenario(policy={"kind": kind, "truncation_k": 16})
    assert_user_error(
        invoke(cli_runner, cmd, path),
        f"{path}: policy.truncation_k: only for kind 'cuhlm', but kind is '{kind}' (got 16)",
    )
    assert_no_results(tmp_path)


def test_truncation_k_needs_cuhlm_via_set(cli_runner, write_scenario):
    path = write_scenario()
    assert_user_error(
        invoke(cli_runner, "validate", path, "--set", "policy.truncation_k=16"),
        f"{path} (with --set): policy.truncation_k: only for kind 'cuhlm'",
    )


@pytest.mark.parametrize("k", [0, -4])
def test_truncation_k_below_one(cli_runner, write_scenario, k):
    path = write_scenario(policy={"kind": "cuhlm", "truncation_k": k})
    assert_user_error(invoke(cli_runner, "validate", path), f"{path}: policy.truncation_k:")


def test_truncation_k_not_in_k_grid_fails_at_run_time(cli_runner, write_scenario, tmp_path):
    path = write_scenario(policy={"kind": "cuhlm", "truncation_k": 3})
    err = assert_user_error(invoke(cli_runner, "run", path), "policy.truncation_k:", "3 is not")
    # The message lists the grid the user can choose from.
    assert "1, 2, 4, 8, 16, 30, 32, 64" in err
    assert_no_results(tmp_path)


def test_truncation_k_in_k_grid_runs(cli_runner, write_scenario, tmp_path):
    path = write_scenario(policy={"kind": "cuhlm", "truncation_k": 16})
    result = invoke(cli_runner, "run", path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "summary.json").is_file()


# ---------------------------------------------------------------- other run options


def test_existing_out_is_not_a_folder(cli_runner, write_scenario, tmp_path):
    path = write_scenario()
    target = tmp_path / "taken"
    target.write_text("keep me\n", encoding="utf-8")
    result = cli_runner.invoke(app, ["run", str(path), "--out", str(target), "--force", "-q"])
    assert_user_error(result, "--out:", str(target), "not a folder")
    assert target.read_text(encoding="utf-8") == "keep me\n"


def test_traces_synth_rejects_zero_rows(cli_runner, tmp_path):
    out = tmp_path / "t.parquet"
    result = cli_runner.invoke(app, ["traces", "synth", str(out), "--rows", "0"])
    assert_user_error(result, "--rows:", "(got 0)")
    assert not out.exists()


def test_markup_in_a_key_is_printed_verbatim(cli_runner, write_scenario):
    path = write_scenario()
    result = invoke(cli_runner, "validate", path, "--set", "devices.[/x]=1")
    assert_user_error(result, "devices.[/x]: unknown key")


def test_markup_in_a_file_name_is_printed_verbatim(cli_runner, tmp_path):
    path = tmp_path / "[red]x.yaml"
    assert_user_error(invoke(cli_runner, "validate", path), f"{path}: scenario file not found")


# ---------------------------------------------------------------- every command, one error path


def _command_paths(app: typer.Typer, prefix: tuple[str, ...] = ()) -> dict[str, CommandInfo]:
    """Every command of the CLI by its words ("traces fit"), sub-apps included."""
    out: dict[str, CommandInfo] = {}
    for info in app.registered_commands:
        name = info.name or info.callback.__name__.replace("_", "-")
        out[" ".join((*prefix, name))] = info
    for group in app.registered_groups:
        out.update(_command_paths(group.typer_instance, (*prefix, group.name)))
    return out


#: A real user mistake for every command that reads user input (``keys`` reads none).
MISTAKES = {
    "run": (["run", "nope.yaml", "--out", "{tmp}/out"], "scenario file not found"),
    "validate": (["validate", "nope.yaml"], "scenario file not found"),
    "bench": (["bench", "--baseline", "nope.json", "--out", "{tmp}/b.json"], "no such bench"),
    "sweep": (["sweep", "nope.yaml", "--out", "{tmp}/out"], "scenario file not found"),
    "capacity": (["capacity", "nope.yaml", "--slo", "bogus"], "--slo 'bogus'"),
    "plot": (["plot", "{tmp}/nope"], "not a folder"),
    "accuracy": (["accuracy", "--batch-size", "0", "--out", "{tmp}/a.parquet"], "--batch-size"),
    "traces generate": (["traces", "generate", "--kinds", "poetry", "--out", "{tmp}/g"], "--kinds"),
    "traces inspect": (["traces", "inspect", "{tmp}/nope.parquet"], "no such trace file"),
    "traces list": (["traces", "list", "{tmp}/nope"], "no such folder"),
    "traces fit": (["traces", "fit", "{tmp}/nope.parquet"], "no such trace file"),
    "traces report": (["traces", "report", "{tmp}/nope.parquet"], "no such trace file"),
    "traces synth": (["traces", "synth", "{tmp}/s.parquet", "--rows", "0"], "--rows"),
}
COMMAND_PATHS = _command_paths(app)


def test_mistakes_cover_every_command():
    assert set(MISTAKES) | {"keys"} == set(COMMAND_PATHS)


@pytest.mark.parametrize("path", sorted(MISTAKES))
def test_every_command_reports_a_user_error_in_one_line(cli_runner, tmp_path, path):
    args, fragment = MISTAKES[path]
    result = cli_runner.invoke(app, [a.format(tmp=tmp_path) for a in args])
    err = assert_user_error(result, fragment)
    assert err.count("\n") == 1


@pytest.mark.parametrize("path", sorted(COMMAND_PATHS))
def test_every_command_goes_through_the_one_error_path(cli_runner, monkeypatch, path):
    """Whatever a command raises as CuhlmError leaves through cli.common.exit_with."""

    def mistake() -> None:
        raise CuhlmError("a user [b]mistake[/b]")

    info = COMMAND_PATHS[path]
    monkeypatch.setattr(info, "name", path.split()[-1])  # the name came from the callback
    monkeypatch.setattr(info, "callback", mistake)
    result = cli_runner.invoke(app, path.split())
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.stderr == "error: a user [b]mistake[/b]\n" and result.stdout == ""
