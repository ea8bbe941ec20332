"""Fixtures for the experiment tests: a tiny in-memory-trace scenario and a sweep-file writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

#: Short, cheap scenario: synthetic in-memory trace, 2 devices, 3 s measured.
TINY: dict[str, Any] = {
    "name": "tiny",
    "seed": 7,
    "duration_s": 3.0,
    "warmup_s": 0.5,
    "devices": {"count": 2, "slm_latency_s": 0.01, "tokens_per_request": 32},
    "server": {"llm_latency_s": 0.02, "max_batch": 4},
    "policy": {"kind": "uhlm", "threshold": 0.081},
    "trace": {"path": None, "synth_rows": 2000},
}


@pytest.fixture
def base_scenario(tmp_path: Path) -> Path:
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump(TINY, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def write_sweep(tmp_path: Path, base_scenario: Path) -> Callable[..., Path]:
    """``write_sweep(**spec)`` writes sweep.yaml next to base.yaml (scenario: base.yaml)."""

    def write(filename: str = "sweep.yaml", **spec: Any) -> Path:
        path = tmp_path / filename
        data = {"scenario": base_scenario.name, **spec}
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return write
