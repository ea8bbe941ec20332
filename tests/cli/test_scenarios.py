"""The shipped scenarios stay valid and the generated scenario reference cannot drift."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from cuhlm_sim.cli import app
from cuhlm_sim.config.reference import scenario_reference_markdown, scenario_reference_rows

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def test_scenarios_exist():
    assert ROOT / "scenarios" / "default.yaml" in SCENARIOS


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_scenario_validates(cli_runner, scenario):
    result = cli_runner.invoke(app, ["validate", str(scenario)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Traceback" not in result.output
    assert result.stderr == ""
    assert f"{scenario}: ok" in " ".join(result.stdout.split())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_scenario_runs_briefly(cli_runner, scenario, tmp_path):
    """Each shipped scenario runs (shortened to 10 s) and produces tokens."""
    out = tmp_path / "out"
    args = ["run", str(scenario), "-s", "duration_s=10", "-s", "warmup_s=0.5"]
    result = cli_runner.invoke(app, [*args, "--out", str(out), "-q"])
    assert result.exit_code == 0, (result.output, result.exception)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["tokens_generated"] > 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"]["duration_s"] == 10.0


def test_default_scenario_comments_every_key():
    """The issue asks for a comment on every key of scenarios/default.yaml."""
    text = (ROOT / "scenarios" / "default.yaml").read_text(encoding="utf-8")
    uncommented = [
        line
        for line in text.splitlines()
        if re.match(r"^\s*[a-z_]+:\s*\S", line) and "#" not in line and not line.startswith("name:")
    ]
    assert not uncommented


def test_default_scenario_keys_are_in_the_reference():
    data = yaml.safe_load((ROOT / "scenarios" / "default.yaml").read_text(encoding="utf-8"))
    known = {row[0] for row in scenario_reference_rows()}

    def keys(node, prefix=""):
        for k, v in node.items():
            if isinstance(v, dict):
                yield from keys(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}"

    assert set(keys(data)) <= known


def test_reference_lists_the_public_keys():
    known = {row[0] for row in scenario_reference_rows()}
    public = {
        "seed",
        "duration_s",
        "warmup_s",
        "devices.count",
        "devices.slm_latency_s",
        "devices.tokens_per_request",
        "devices.think_time_s",
        "channel.model",
        "channel.snr_db",
        "uplink.bandwidth_hz",
        "downlink.latency_s",
        "server.gpus",
        "server.llm_latency_s",
        "server.max_batch",
        "policy.kind",
        "policy.threshold",
        "policy.truncation_k",
        "payload.prob_bits",
        "trace.path",
    }
    assert public <= known


def test_docs_scenario_reference_is_up_to_date():
    """docs/scenario.md is generated from the schema; if this fails, run `make docs`."""
    doc = (ROOT / "docs" / "scenario.md").read_text(encoding="utf-8")
    assert doc == scenario_reference_markdown(), (
        "docs/scenario.md is stale: run `make docs` and commit it"
    )


def test_keys_command_lists_every_key(cli_runner, monkeypatch):
    from rich.console import Console

    # Wide enough that rich does not fold the key column.
    monkeypatch.setattr("cuhlm_sim.cli.scenario.console", Console(width=400))
    result = cli_runner.invoke(app, ["keys"])
    assert result.exit_code == 0, (result.output, result.exception)
    for key, *_ in scenario_reference_rows():
        assert key in result.stdout, key
