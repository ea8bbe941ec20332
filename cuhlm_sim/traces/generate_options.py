"""What a trace run depends on (:class:`GenerateOptions`, checked before anything slow) and
where its file goes by default."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cuhlm_sim.errors import TraceError
from cuhlm_sim.traces.importance import DEFAULT_SINKS
from cuhlm_sim.traces.schema import DEFAULT_K_GRID, KINDS
from cuhlm_sim.traces.specs import get_pair, pair_stem


@dataclass(frozen=True)
class GenerateOptions:
    """What a trace run depends on. ``prompts_per_kind``, ``threads`` and ``batch_size`` may
    change between a run and its resume (fewer prompts per kind select a prefix of the same
    prompts; batching changes floating-point rounding only, see
    :data:`cuhlm_sim.traces.metadata.BATCH_RTOL`); everything else must match."""

    draft: str = "qwen-coder-0.5b"
    target: str = "qwen-coder-1.5b"
    models: str | None = "qwen-coder"  # the preset the SPECs came from, if any (informational)
    kinds: tuple[str, ...] = KINDS
    prompts_per_kind: int | None = 12  # None: every prompt of the --prompts file
    max_new_tokens: int = 200
    K: int = 20
    theta_max: float = 2.0
    seed: int = 0
    k_grid: tuple[int, ...] = DEFAULT_K_GRID
    threads: int = 2
    quad_nodes: int = 32
    batch_size: int = 1
    device: str = "cpu"
    dtype: str = "bfloat16"
    temperature_draft: float = 1.0
    temperature_target: float = 1.0
    importance: bool = False
    importance_sinks: int = DEFAULT_SINKS
    prompts_file: str | None = None

    def validate(self) -> None:
        """Raise TraceError naming the option at fault."""
        checks = [
            (self.K >= 1, "--K", "must be >= 1", self.K),
            (self.theta_max > 0, "--theta-max", "must be > 0", self.theta_max),
            (self.max_new_tokens >= 1, "--max-new-tokens", "must be >= 1", self.max_new_tokens),
            (self.threads >= 1, "--threads", "must be >= 1", self.threads),
            (self.batch_size >= 1, "--batch-size", "must be >= 1", self.batch_size),
            (
                self.prompts_per_kind is None or self.prompts_per_kind >= 1,
                "--prompts-per-kind",
                "must be >= 1",
                self.prompts_per_kind,
            ),
            (
                self.temperature_draft > 0,
                "--draft-temperature",
                "must be > 0",
                self.temperature_draft,
            ),
            (
                self.temperature_target > 0,
                "--target-temperature",
                "must be > 0",
                self.temperature_target,
            ),
            (self.importance_sinks >= 0, "importance_sinks", "must be >= 0", self.importance_sinks),
            (self.quad_nodes >= 2, "quad_nodes", "must be >= 2", self.quad_nodes),
            (
                len(self.k_grid) > 0 and all(k >= 1 for k in self.k_grid),
                "k_grid",
                "must be positive",
                self.k_grid,
            ),
            (
                list(self.k_grid) == sorted(set(self.k_grid)),
                "k_grid",
                "must be strictly increasing",
                self.k_grid,
            ),
        ]
        for ok, name, what, got in checks:
            if not ok:
                raise TraceError(f"{name}: {what} (got {got})")
        if self.prompts_file is None:
            bad = [k for k in self.kinds if k not in KINDS]
            if bad or not self.kinds:
                raise TraceError(f"--kinds: expected a subset of {','.join(KINDS)} (got {bad})")

    def run_key(self) -> dict[str, Any]:
        """The options a resumed run must share with the first one."""
        d = asdict(self)
        for k in ("prompts_per_kind", "threads", "batch_size", "models"):
            d.pop(k)
        d["kinds"] = list(self.kinds)
        d["k_grid"] = list(self.k_grid)
        if self.prompts_file is not None:  # the content counts, not where the file lies
            d["prompts_file"] = hashlib.sha256(Path(self.prompts_file).read_bytes()).hexdigest()
        return d


def default_out(models: str | None, quick: bool, draft: str = "", target: str = "") -> Path:
    """Traces go to traces/<stem>.parquet, quick ones to out/traces-quick/; the stem is the
    preset's, or ``<draft>--<target>`` for a pair given by SPECs."""
    stem = get_pair(models).stem if models is not None else pair_stem(draft, target)
    return (
        Path("out/traces-quick") / f"{stem}.parquet"
        if quick
        else Path("traces") / f"{stem}.parquet"
    )


QUICK = {"prompts_per_kind": 1, "max_new_tokens": 32}
