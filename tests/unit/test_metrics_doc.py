"""docs/metrics.md defines every key that summary.json holds (the doc drifted before)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.runner import run_scenario

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def _documented(section: str = "summary") -> set[str]:
    """Keys named in the first column of a table row: of the summary sections, or of the
    ``devices.parquet`` section."""
    text = DOC.read_text(encoding="utf-8")
    summary, devices = text.split("## `devices.parquet`")
    keys: set[str] = set()
    for line in (summary if section == "summary" else devices).splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            keys.update(re.findall(r"`([a-z0-9_.]+)`", first))
    return keys


@pytest.mark.parametrize(
    "sections",
    [
        {"policy": {"kind": "uhlm", "threshold": 0.2}},
        {"policy": {"kind": "cuhlm", "threshold": 0.2, "truncation_k": 30}},
        {"policy": {"kind": "hlm"}, "uplink": {"scheduler": "proportional_fair"}},
    ],
)
def test_every_summary_key_has_a_formula(sections):
    scn = Scenario.model_validate({"duration_s": 3.0, "trace": {"path": None}, **sections})
    summary = run_scenario(scn, count_events=True).summary
    documented = _documented()
    tops = documented | {k.split(".")[0] for k in documented}
    missing = [k for k in summary if k not in tops]
    missing += [
        f"energy_breakdown_j.{k}"
        for k in summary["energy_breakdown_j"]
        if f"energy_breakdown_j.{k}" not in documented
    ]
    assert not missing, f"docs/metrics.md lacks a row for {missing}"
    stale = [k for k in documented if k.split(".")[0] not in summary]
    assert not stale, f"docs/metrics.md documents keys summary.json does not have: {stale}"


def test_every_device_column_is_documented():
    from cuhlm_sim.metrics.compute import device_table

    scn = Scenario.model_validate({"duration_s": 2.0, "trace": {"path": None}})
    columns = set(device_table(run_scenario(scn).result))
    documented = _documented("devices")
    assert columns == documented, (columns - documented, documented - columns)
