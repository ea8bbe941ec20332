"""Scenario loading: overrides, path resolution, error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from cuhlm_sim.config import load_scenario, parse_overrides
from cuhlm_sim.errors import ScenarioError


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


def test_overrides_are_yaml_typed():
    assert parse_overrides(["a.b=1e6", "c=null", "d=[1, 2]", "e=uhlm"]) == [
        ("a.b", 1e6),
        ("c", None),
        ("d", [1, 2]),
        ("e", "uhlm"),
    ]


def test_override_reaches_nested_key(tmp_path):
    p = _write(tmp_path, "devices: {count: 3}\n")
    scn = load_scenario(p, ["devices.count=11", "server.max_batch=4"], seed=9)
    assert (scn.devices.count, scn.server.max_batch, scn.seed) == (11, 4, 9)


def test_trace_path_relative_to_file_but_override_relative_to_cwd(tmp_path):
    p = _write(tmp_path, "trace: {path: t.parquet}\n")
    assert load_scenario(p).trace.path == tmp_path / "t.parquet"
    assert load_scenario(p, ["trace.path=x/t.parquet"]).trace.path == Path("x/t.parquet")


@pytest.mark.parametrize(
    ("text", "overrides", "pattern"),
    [
        ("devices: {cuont: 3}\n", [], r"s\.yaml: devices\.cuont: unknown key"),
        ("duration_s: -1\n", [], r"duration_s: Input should be greater than 0 \(got -1\)"),
        ("policy: {threshold: 1.5}\n", [], r"policy\.threshold: .*less than or equal to 1"),
        ("uplink: {bandwidth_hz: 0}\n", [], r"uplink\.bandwidth_hz: .*greater than 0"),
        ("devices: {count: many}\n", [], r"devices\.count: .*integer"),
        ("policy: {kind: hlm, truncation_k: 30}\n", [], r"policy: truncation_k .* 'cuhlm' only"),
        ("seed: 1\n", ["devices.count"], r"--set 'devices\.count': expected KEY=VALUE"),
        ("seed: 1\n", ["seed.x=1"], r"--set seed\.x: seed is a value"),
        ("a: [1\n", [], r"s\.yaml: YAML syntax error at line 2"),
        ("- 1\n", [], r"expected a mapping"),
    ],
)
def test_errors_name_file_and_field(tmp_path, text, overrides, pattern):
    p = _write(tmp_path, text)
    with pytest.raises(ScenarioError, match=pattern):
        load_scenario(p, overrides)


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="scenario file not found"):
        load_scenario(tmp_path / "nope.yaml")
