"""Shared fixtures: a tiny synthetic trace, a short scenario writer and a CLI runner."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

#: Rows of the tiny synthetic trace (enough for every policy, fast to write and load).
TINY_TRACE_ROWS = 2000

#: Sections of every test scenario: short, a few devices, all other keys at their defaults
#: except the per-token times, which are fixed (the schema's default jitters them) so that
#: hand-computed expectations hold; tests of the jitter itself set the distributions.
BASE_SCENARIO: dict[str, Any] = {
    "name": "test",
    "seed": 0,
    "duration_s": 5.0,
    "warmup_s": 1.0,
    "devices": {
        "count": 3,
        "slm_latency_s": 0.01,
        "slm_latency_dist": "fixed",
        "tokens_per_request": 32,
    },
    "server": {"llm_latency_s": 0.02, "llm_latency_dist": "fixed", "max_batch": 4},
    "downlink": {"latency_s": 0.001},
    "policy": {"kind": "uhlm", "threshold": 0.081},
}


@pytest.fixture(scope="session")
def _tiny_trace_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write the synthetic trace once per session; tests get their own copy."""
    from cuhlm_sim.traces.io import write_trace
    from cuhlm_sim.traces.synth import SynthParams, synth_table

    table, meta = synth_table(SynthParams(num_rows=TINY_TRACE_ROWS), 0)
    path = tmp_path_factory.mktemp("trace") / "tiny.parquet"
    write_trace(table, path, meta)
    return path


@pytest.fixture
def tiny_trace(tmp_path: Path, _tiny_trace_master: Path) -> Path:
    """A small synthetic trace (SynthParams(num_rows=2000), seed 0) in this test's tmp_path."""
    path = tmp_path / "tiny.parquet"
    shutil.copyfile(_tiny_trace_master, path)
    return path


@pytest.fixture
def tiny_one_sequence(tmp_path: Path, _tiny_trace_master: Path) -> Path:
    """The tiny trace as one sequence of all its rows (seq_id constant, pos 0..n-1): a request
    may then be as long as the trace."""
    import pyarrow as pa

    from cuhlm_sim.traces.io import read_metadata, write_trace

    table = pq.read_table(_tiny_trace_master)
    n = len(table)
    table = table.set_column(
        table.schema.get_field_index("seq_id"), "seq_id", pa.array(["all"] * n)
    )
    pos_type = table.schema.field("pos").type
    table = table.set_column(
        table.schema.get_field_index("pos"), "pos", pa.array(range(n), type=pos_type)
    )
    path = tmp_path / "one_sequence.parquet"
    write_trace(table, path, read_metadata(_tiny_trace_master))
    return path


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture
def write_scenario(tmp_path: Path, tiny_trace: Path) -> Callable[..., Path]:
    """``write_scenario(filename="s.yaml", **sections)`` writes a short scenario; returns its path.

    Sections are merged into :data:`BASE_SCENARIO` (a dict merges key by key, anything else
    replaces); ``trace.path`` points at the tiny trace unless a section overrides it.
    """

    def write(filename: str = "scenario.yaml", **sections: Any) -> Path:
        data = _merge(BASE_SCENARIO, {"trace": {"path": str(tiny_trace)}})
        data = _merge(data, sections)
        path = tmp_path / filename
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return write


@pytest.fixture
def cli_runner() -> CliRunner:
    """A CliRunner for ``cuhlm_sim.cli.app``; ``result.stderr`` is captured separately."""
    return CliRunner()


#: The shipped real trace (Qwen2.5-Coder 0.5B drafting for 1.5B).
REAL_TRACE = Path(__file__).resolve().parents[1] / "traces" / "qwen-coder-0.5b-1.5b.parquet"


@pytest.fixture(scope="session")
def one_pass() -> Callable[..., dict[str, Any]]:
    """``one_pass(policy_section, devices=2)`` -> summary of a run on the real trace in which
    each device replays exactly one request of num_rows tokens (every trace row once) and then
    thinks longer than the run: in-window tokens are whole passes over the trace, so rates
    equal shares of the file's rows exactly. The trace is replayed as one sequence holding
    every row (a request replays one sequence)."""
    import dataclasses

    import numpy as np
    import pandas as pd

    from cuhlm_sim.config.schema import Scenario
    from cuhlm_sim.runner import run_scenario
    from cuhlm_sim.traces.io import load_trace

    rows = len(pd.read_parquet(REAL_TRACE, columns=["pos"]))
    whole = dataclasses.replace(
        load_trace(REAL_TRACE),
        seq_start=np.array([0, rows]),
        seq_prompt=np.zeros(1, dtype=np.int64),
        prompt_names=("all",),
    )

    def run(policy: dict[str, Any], devices: int = 2) -> dict[str, Any]:
        scn = Scenario.model_validate(
            {
                "seed": 3,
                "warmup_s": 0.0,
                "duration_s": 400.0,
                "devices": {
                    "count": devices,
                    "slm_latency_s": 0.001,
                    "tokens_per_request": rows,
                    "think_time_s": 1e6,
                },
                "uplink": {"bandwidth_hz": 1e10},
                "server": {"llm_latency_s": 0.001, "max_batch": 8},
                "downlink": {"latency_s": 0.0},
                "policy": policy,
                "trace": {"path": str(REAL_TRACE)},
            }
        )
        s = run_scenario(scn, trace=whole).summary
        assert s["tokens_generated"] == devices * rows  # exactly one pass per device
        return s

    return run
