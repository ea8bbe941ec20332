"""The cells whose results must not move when code is restructured (golden summaries).

Every shipped scenario, shortened, plus variants that reach every policy, scheduler, queue
discipline, channel model, power model, arrival mode and latency model. A refactoring that
claims "behaviour identical" regenerates nothing and passes ``test_golden.py``; a change of
the model bumps ``cuhlm_sim.MODEL_REVISION`` and regenerates the file with
``python tests/golden/regen.py``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("summaries.json")

SHORT = ["duration_s=12", "warmup_s=3"]

#: case name -> (scenario file, overrides)
CASES: dict[str, tuple[str, list[str]]] = {
    "default": ("default.yaml", SHORT),
    "default_hlm": ("default.yaml", [*SHORT, "policy.kind=hlm"]),
    "default_uhlm_0.1": ("default.yaml", [*SHORT, "policy.threshold=0.1"]),
    "default_cuhlm_k30": ("default.yaml", [*SHORT, "policy.kind=cuhlm", "policy.truncation_k=30"]),
    "default_cuhlm_tv": ("default.yaml", [*SHORT, "policy.kind=cuhlm", "policy.tv_budget=0.05"]),
    "default_random_skip": ("default.yaml", [*SHORT, "policy.kind=random_skip"]),
    "default_llm_only": ("default.yaml", [*SHORT, "policy.kind=llm_only"]),
    "default_slm_only": ("default.yaml", [*SHORT, "policy.kind=slm_only"]),
    "default_priority": (
        "default.yaml",
        [*SHORT, "policy.kind=hlm", "server.discipline=priority_uncertainty", "server.gpus=2"],
    ),
    "default_table_latency": (
        "default.yaml",
        [
            *SHORT,
            "server.latency_model=table",
            "server.latency_table=[[1, 0.2], [2, 0.22], [4, 0.3]]",
            "server.batch_per_item_s=0",
            "server.max_batch=4",
        ],
    ),
    "default_full_power": ("default.yaml", [*SHORT, "uplink.power_model=full_power"]),
    "default_rr": ("default.yaml", [*SHORT, "uplink.scheduler=round_robin"]),
    "default_max_rate": (
        "default.yaml",
        [
            *SHORT,
            "uplink.scheduler=max_rate",
            "channel.model=per_device",
            "channel.spread=uniform",
            "channel.spread_db=6",
        ],
    ),
    "default_poisson": (
        "default.yaml",
        [*SHORT, "devices.arrival=poisson", "devices.arrival_rate_per_s=2"],
    ),
    "default_poisson_requests": (
        "default.yaml",
        [
            "duration_s=60",
            "warmup_s=3",
            "devices.arrival=poisson_requests",
            "devices.request_rate_per_s=0.02",
        ],
    ),
    "default_trace_times": (
        "default.yaml",
        [*SHORT, "devices.slm_latency_dist=trace", "server.llm_latency_dist=trace"],
    ),
    "default_fixed_times_cut": (
        "default.yaml",
        [
            *SHORT,
            "devices.slm_latency_dist=fixed",
            "server.llm_latency_dist=fixed",
            "devices.tokens_per_request=40",
            "policy.kind=hlm",
        ],
    ),
    "uhlm_paper": ("uhlm_paper.yaml", ["duration_s=40"]),
    "default_mobility_logdist": (
        "default.yaml",
        [
            *SHORT,
            "channel.model=pathloss",
            "channel.pathloss_model=log_distance",
            "channel.mobility=random_waypoint",
            "channel.fading=rayleigh",
            "channel.harq_bler=0.1",
        ],
    ),
    "cuhlm_paper": ("cuhlm_paper.yaml", ["duration_s=40"]),
    "energy_aware": ("energy_aware.yaml", ["duration_s=60"]),
    "energy_aware_weighted": (
        "energy_aware.yaml",
        ["duration_s=60", "policy.importance_rule=weighted"],
    ),
    "dense_cell": ("dense_cell.yaml", ["duration_s=4", "warmup_s=1", "devices.count=60"]),
    "dense_cell_umi_rician": (
        "dense_cell.yaml",
        [
            "duration_s=4",
            "warmup_s=1",
            "devices.count=40",
            "channel.pathloss_model=umi",
            "channel.fading=rician",
            "uplink.scheduler=max_rate",
            "uplink.power_model=full_power",
        ],
    ),
}


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def run_case(name: str, **run_kwargs: Any) -> dict[str, Any]:
    """Summary (without wall time) and a digest of devices.parquet's columns for one case
    (``run_kwargs`` go to ``run_scenario``, e.g. a progress callback)."""
    from cuhlm_sim.config.load import load_scenario
    from cuhlm_sim.metrics.compute import device_table
    from cuhlm_sim.runner import run_scenario

    file, overrides = CASES[name]
    scn = load_scenario(ROOT / "scenarios" / file, overrides)
    out = run_scenario(scn, count_events=True, **run_kwargs)
    summary = _plain(out.summary)
    summary.pop("wall_time_s", None)
    digest = hashlib.sha256()
    table = device_table(out.result)
    for col in sorted(table):
        digest.update(col.encode())
        digest.update(np.ascontiguousarray(table[col]).tobytes())
    devices = {col: _plain(np.asarray(v).tolist()) for col, v in sorted(table.items())}
    return {"summary": summary, "devices": devices, "devices_sha256": digest.hexdigest()}


def load_golden() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))
