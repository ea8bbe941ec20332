"""The reproducibility manifest written beside every result.

It pins what is needed to rerun a result bit for bit: the fully resolved scenario, the seed,
package and library versions, the SHA-256 of every trace file replayed and the prompts a
prompt bootstrap drew; and it flags a run
whose importance scores are synthetic rather than from the trace.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import platform
import sys
from importlib import metadata
from typing import Any

from cuhlm_sim import MODEL_REVISION, __version__
from cuhlm_sim.model.policies.ihlm import importance_source_used


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def build_manifest(
    resolved_config: dict[str, Any],
    seed: int,
    trace_files: tuple[tuple[str, str], ...],
    trace_metadata: dict[str, Any],
    *,
    scenario_path: str | None = None,
    overrides: list[str] | None = None,
    wall_time_s: float | None = None,
    prompt_draw: list[str] | None = None,
) -> dict[str, Any]:
    """``prompt_draw``: the prompts the run replayed, in order, when it drew them
    (``trace.resample_prompts``); None when it replayed the trace as loaded."""
    policy, server = resolved_config.get("policy", {}), resolved_config.get("server", {})
    importance = importance_source_used(
        policy.get("kind"), server.get("discipline"), policy.get("importance_source")
    )
    return {
        "cuhlm_sim_version": __version__,
        "model_revision": MODEL_REVISION,
        "created_utc": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "seed": seed,
        "scenario_path": scenario_path,
        "overrides": list(overrides or []),
        "command": sys.argv,
        "config": resolved_config,
        "trace": {
            "files": [{"path": p, "sha256": h} for p, h in trace_files],
            "synthetic": not trace_files,
            "generator": trace_metadata.get("generator"),
            "mode": trace_metadata.get("mode"),
            "vocab_size": trace_metadata.get("vocab_size"),
            # The prompt bootstrap's draw: the replayed trace is these prompts' sequences end
            # to end (tokens.parquet's trace_row indexes it); the hash compares two runs' draws.
            "prompt_draw": prompt_draw,
            "prompt_draw_sha256": None
            if prompt_draw is None
            else hashlib.sha256("\n".join(prompt_draw).encode()).hexdigest(),
        },
        # Where importance scores came from; "synthetic" = Beta draws, not the trace (ASM).
        "importance": {
            "source": importance,
            "synthetic": importance == "synthetic",
            "beta": policy.get("importance_beta") if importance == "synthetic" else None,
        },
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": {
            name: _version(name)
            for name in ("simpy", "numpy", "scipy", "pandas", "pyarrow", "pydantic")
        },
        "wall_time_s": wall_time_s,
    }
