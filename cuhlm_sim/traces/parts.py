"""A trace run's work folder ``<out>.parts/``: one Parquet part per finished prompt (written
atomically), ``run.json`` (the options and models the parts were made with, so a resume with
others is refused), and the merge of all parts, in prompt order, into the trace file."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cuhlm_sim.atomic import atomic_path
from cuhlm_sim.errors import TraceError
from cuhlm_sim.traces.generate_options import GenerateOptions
from cuhlm_sim.traces.metadata import trace_metadata
from cuhlm_sim.traces.prompts import Prompt
from cuhlm_sim.traces.schema import KINDS, METADATA_KEY

log = logging.getLogger(__name__)


def parts_dir(out: Path) -> Path:
    """Work folder of a run: ``<out>.parts`` next to the output file."""
    return out.with_name(out.name + ".parts")


def part_name(prompt_id: str) -> str:
    return prompt_id.replace("/", "__") + ".parquet"


def write_table(table: pa.Table, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", compression_level=9, row_group_size=1 << 20)


@dataclass
class RunResult:
    """What a run produced (for the CLI and the README)."""

    out: Path
    n_prompts: int
    n_tokens: int
    generated_tokens: int
    seconds: float
    rows_per_kind: dict[str, int] = field(default_factory=dict)
    seconds_per_token: float | None = None


def read_state(work: Path, opts: GenerateOptions) -> dict[str, Any]:
    state_path = work / "run.json"
    if not state_path.exists():
        return {}
    state = json.loads(state_path.read_text(encoding="utf-8"))
    if state.get("run_key") != opts.run_key():
        raise TraceError(
            f"{work}: holds parts of a run with different options "
            f"({state.get('run_key')}); rerun with those options or delete the folder"
        )
    return state


def check_models(state: dict[str, Any], pair: Any, work: Path) -> None:
    """A resumed run must use the same model files as the parts already written."""
    for role in ("draft_model", "target_model"):
        old = state.get(role, {}).get("sha256")
        new = getattr(pair, role.replace("_model", "_info"))["sha256"]
        if old is not None and old != new:
            raise TraceError(
                f"{work}: its parts were made with another {role.split('_')[0]} "
                f"(SHA-256 {old[:12]}..., now {new[:12]}...); delete the folder or use that model"
            )


def merge_parts(
    opts: GenerateOptions,
    out: Path,
    work: Path,
    prompts: list[Prompt],
    state: dict[str, Any],
    generated: int,
    seconds: float,
) -> RunResult:
    """Concatenate finished parts in prompt order and write ``out`` atomically with metadata."""
    missing = [p.prompt_id for p in prompts if not (work / part_name(p.prompt_id)).exists()]
    if missing:
        raise TraceError(f"{work}: {len(missing)} prompts unfinished ({missing[0]}, ...)")
    tables = [pq.read_table(work / part_name(p.prompt_id)) for p in prompts]
    table = pa.concat_tables(tables).unify_dictionaries().combine_chunks()
    kinds = table.column("kind").to_pylist()
    rows_per_kind = {k: kinds.count(k) for k in sorted(set(kinds), key=_kind_order)}
    meta = trace_metadata(opts, state, table.num_rows, len(prompts), rows_per_kind)
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})
    out.parent.mkdir(parents=True, exist_ok=True)
    write_table(table, out)
    log.info("wrote %s: %d rows from %d prompts", out, table.num_rows, len(prompts))
    return RunResult(
        out,
        len(prompts),
        table.num_rows,
        generated,
        seconds,
        rows_per_kind,
        meta["seconds_per_token"],
    )


def _kind_order(kind: str) -> int:
    return KINDS.index(kind) if kind in KINDS else len(KINDS)
