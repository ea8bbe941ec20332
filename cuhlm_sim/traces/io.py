"""Parquet trace files <-> :class:`TraceArrays`.

Reads a file or a folder of files once, checks the column contract, and hands the simulator
plain numpy arrays. Each file's SHA-256 is computed here so the run manifest can pin it.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cuhlm_sim.atomic import atomic_path
from cuhlm_sim.errors import TraceError
from cuhlm_sim.traces.arrays import TraceArrays
from cuhlm_sim.traces.grid import draws_from_meta, grid_uncertainty
from cuhlm_sim.traces.schema import DEFAULT_K_GRID, KINDS, METADATA_KEY, REQUIRED_COLUMNS

#: |V| of the Qwen2.5 tokenizer, used when a trace's metadata does not say.
DEFAULT_VOCAB_SIZE = 151_936


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def trace_files(path: Path, field: str = "trace.path") -> list[Path]:
    """The Parquet files a trace path names, sorted; a clear error if there are none."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.parquet") if p.is_file())
        if not files:
            raise TraceError(f"{field}: folder {path} holds no .parquet trace files")
        return files
    if not path.exists():
        raise TraceError(f"{field}: trace file not found: {path}")
    return [path]


def count_trace_rows(path: str | Path, field: str = "trace.path") -> int:
    """Rows of a trace file or folder, from the Parquet footers (no column is read)."""
    total = 0
    for f in trace_files(Path(path), field):
        try:
            total += pq.ParquetFile(f).metadata.num_rows
        except (pa.ArrowInvalid, OSError) as exc:
            raise TraceError(f"{field}: {f} is not a readable Parquet file ({exc})") from None
    return total


def read_metadata(path: Path) -> dict[str, Any]:
    """The JSON metadata stored under ``METADATA_KEY`` (empty if absent)."""
    try:
        meta = pq.read_schema(path).metadata or {}
    except (pa.ArrowInvalid, OSError) as exc:
        raise TraceError(f"trace.path: {path} is not a readable Parquet file ({exc})") from None
    raw = meta.get(METADATA_KEY)
    if raw is None:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise TraceError(f"trace.path: {path}: metadata is not valid JSON ({exc})") from None


def check_columns(path: Path, field: str = "trace.path") -> list[str]:
    """Check the required columns without reading the data; return all column names."""
    try:
        names = pq.read_schema(path).names
    except (pa.ArrowInvalid, OSError) as exc:
        raise TraceError(f"{field}: {path} is not a readable Parquet file ({exc})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise TraceError(
            f"{field}: {path} lacks required trace column(s) {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED_COLUMNS)})"
        )
    return names


#: Value ranges of the trace columns (``docs/models.md`` §9), checked on every read by
#: :func:`check_trace_table`. Probabilities lie in [0, 1]; ``topk_l1`` is an L1 distance of
#: two distributions, so in [0, 2]; entropies in nats are >= 0.
COLUMN_RANGES: dict[str, tuple[float, float]] = {
    "uncertainty": (0.0, 1.0),
    "p_draft": (0.0, 1.0),
    "q_target": (0.0, 1.0),
    "accept_prob": (0.0, 1.0),
    "top1_prob": (0.0, 1.0),
    "entropy": (0.0, math.inf),
    "u_accept": (0.0, 1.0),
    "importance": (0.0, 1.0),
    "topk_mass": (0.0, 1.0),
    "topk_l1": (0.0, 2.0),
    "topk_accept_prob": (0.0, 1.0),
    "topk_tv_out": (0.0, 1.0),
}
#: Slack on the ranges for float32 rounding of values computed at an edge (uncertainty,
#: whose [0, 1] decides skips, has none).
RANGE_SLACK = 1e-6


def check_trace_table(table: pa.Table, meta: dict[str, Any], source: str) -> None:
    """The one validation of a trace's content, shared by ``cuhlm run`` / ``validate``
    (:func:`load_trace`), ``traces inspect``, ``fit``, ``report`` and ``list``: required
    columns, at least one row, no missing values in a required column, every value of
    :data:`COLUMN_RANGES` finite and in range, per-k columns one value per ``k_grid`` entry.

    Raises :class:`TraceError` ``"{source}: ..."`` naming the column, how many rows are bad and
    the first of them; callers put the option or key in front.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise TraceError(
            f"{source} lacks required trace column(s) {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED_COLUMNS)})"
        )
    if len(table) == 0:
        raise TraceError(f"{source} holds no rows")
    for name in REQUIRED_COLUMNS:
        nulls = table.column(name).null_count
        if nulls:
            raise TraceError(f"{source}: column {name} has {nulls} missing value(s)")
    width = len(meta.get("k_grid", DEFAULT_K_GRID))
    for name, (lo, hi) in COLUMN_RANGES.items():
        if name not in table.column_names:
            continue
        col = table.column(name).combine_chunks()
        if pa.types.is_list(col.type) or pa.types.is_fixed_size_list(col.type):
            values = np.asarray(col.flatten(), dtype=np.float64)
            if values.size != len(table) * width:
                raise TraceError(
                    f"{source}: column {name} must hold {width} values per row (k_grid)"
                )
            values = values.reshape(len(table), width)
        else:
            values = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
        slack = 0.0 if name == "uncertainty" else RANGE_SLACK
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(values) | (values < lo - slack) | (values > hi + slack)
        if bad.any():
            rows = bad.any(axis=1) if bad.ndim == 2 else bad
            first = int(np.flatnonzero(rows)[0])
            shown = float(np.ravel(values[first])[np.ravel(bad[first])][0])
            upper = "inf" if math.isinf(hi) else f"{hi:g}"
            raise TraceError(
                f"{source}: column {name} must lie in [{lo:g}, {upper}]; {int(rows.sum())} "
                f"row(s) do not, the first is row {first} ({shown:g})"
            )


def _list_column(table: pa.Table, name: str, width: int) -> np.ndarray | None:
    if name not in table.column_names:
        return None
    col = table.column(name).combine_chunks()
    flat = np.asarray(col.flatten(), dtype=np.float64)
    if flat.size != len(table) * width:
        raise TraceError(f"trace.path: column {name} must hold {width} values per row (k_grid)")
    return flat.reshape(len(table), width)


def load_trace(
    path: str | Path, *, kinds: list[str] | None = None, rng: np.random.Generator | None = None
) -> TraceArrays:
    """Load a trace file or folder into numpy arrays.

    ``rng`` reconstructs ``u_accept`` when the file lacks it: U ~ U(0, pi) for accepted rows,
    U(pi, 1) for rejected ones, so that truncated acceptance is coupled to the recorded outcome.
    """
    files = trace_files(Path(path))
    tables, metas, digests = [], [], []
    for f in files:
        check_columns(f)
        metas.append(read_metadata(f))
        digests.append((str(f), sha256_file(f)))
        try:
            tables.append(pq.read_table(f))
        except (pa.ArrowInvalid, OSError) as exc:
            raise TraceError(f"trace.path: cannot read {f} ({exc})") from None
    meta = metas[0]
    k_grid = tuple(meta.get("k_grid", DEFAULT_K_GRID))
    for f, m in zip(files[1:], metas[1:], strict=True):
        if tuple(m.get("k_grid", DEFAULT_K_GRID)) != k_grid:
            raise TraceError(f"trace.path: {f} has a different k_grid than {files[0]}")
    try:
        table = pa.concat_tables(tables, promote_options="default")
    except pa.ArrowInvalid as exc:
        raise TraceError(f"trace.path: files in {path} have incompatible schemas ({exc})") from None

    return arrays_from_table(
        table, meta, kinds=kinds, rng=rng, files=tuple(digests), source=str(path)
    )


def arrays_from_table(
    table: pa.Table,
    meta: dict[str, Any],
    *,
    kinds: list[str] | None = None,
    rng: np.random.Generator | None = None,
    files: tuple[tuple[str, str], ...] = (),
    source: str = "trace",
) -> TraceArrays:
    """Convert a trace table (file or in-memory synthetic) into :class:`TraceArrays`."""
    path = source
    check_trace_table(table, meta, f"trace.path: {path}")
    k_grid = tuple(meta.get("k_grid", DEFAULT_K_GRID))
    kind_strings = np.asarray(table.column("kind").to_pylist(), dtype=object)
    if kinds is not None:
        mask = np.isin(kind_strings, kinds)
        if not mask.any():
            raise TraceError(f"trace.kinds: no rows of kind {kinds} in {path}")
        table = table.filter(pa.array(mask))
        kind_strings = kind_strings[mask]
    if len(table) == 0:
        raise TraceError(f"trace.path: {path} holds no rows")

    def col(name: str, dtype: Any = np.float64) -> np.ndarray:
        return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=dtype)

    uncertainty = col("uncertainty")
    draws = draws_from_meta(meta)
    uncertainty, u_count, draws = grid_uncertainty(
        uncertainty,
        col("u_count", np.int64) if "u_count" in table.column_names else None,
        draws,
        path,
    )
    accepted = col("accepted", bool)
    accept_prob = np.clip(col("accept_prob"), 0.0, 1.0)
    if "u_accept" in table.column_names:
        u_accept = col("u_accept")
    else:
        rng = rng if rng is not None else np.random.default_rng(0)
        v = rng.random(len(table))
        u_accept = np.where(accepted, v * accept_prob, accept_prob + v * (1.0 - accept_prob))

    names = list(KINDS) + sorted(set(kind_strings) - set(KINDS))
    kind_codes = np.array([names.index(k) for k in kind_strings], dtype=np.int8)
    width = len(k_grid)
    topk_accept = _list_column(table, "topk_accept_prob", width)
    topk_mass = _list_column(table, "topk_mass", width)
    topk_l1 = _list_column(table, "topk_l1", width)
    topk_tv_out = _list_column(table, "topk_tv_out", width)
    vocab = int(meta.get("vocab_size", DEFAULT_VOCAB_SIZE))
    p_draft = col("p_draft")
    if topk_accept is None and topk_mass is not None and "draft_rank" in table.column_names:
        topk_accept = topk_accept_from_mass(
            p_draft, col("q_target"), col("draft_rank", np.int64), topk_mass, k_grid, vocab
        )
    seq_start, seq_prompt, prompt_names = _sequences(table)
    return TraceArrays(
        uncertainty=uncertainty,
        accepted=accepted,
        accept_prob=accept_prob,
        u_accept=u_accept,
        p_draft=p_draft,
        entropy=col("entropy"),
        top1_prob=col("top1_prob"),
        kind=kind_codes,
        kind_names=tuple(names),
        vocab_size=vocab,
        k_grid=np.asarray(k_grid, dtype=np.int64),
        topk_accept_prob=topk_accept,
        topk_mass=topk_mass,
        topk_l1=topk_l1,
        topk_tv_out=topk_tv_out,
        importance=col("importance") if "importance" in table.column_names else None,
        u_count=u_count,
        u_draws=draws,
        seq_start=seq_start,
        seq_prompt=seq_prompt,
        prompt_names=prompt_names,
        t_draft_ms=col("t_draft_ms") if "t_draft_ms" in table.column_names else None,
        t_target_ms=col("t_target_ms") if "t_target_ms" in table.column_names else None,
        metadata=meta,
        files=files,
    )


def _sequences(table: pa.Table) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Sequence boundaries and each sequence's prompt: a sequence is a run of rows with one
    ``seq_id`` whose ``pos`` keeps increasing (a file holding a sequence twice in a row, or
    concatenated parts, still splits where ``pos`` restarts). Ids are compared as dictionary
    codes, not Python strings (~4 µs a row)."""

    def codes(name: str) -> tuple[np.ndarray, pa.Array]:
        enc = table.column(name).combine_chunks().cast(pa.string()).dictionary_encode()
        return enc.indices.to_numpy(zero_copy_only=False), enc.dictionary

    seq, _ = codes("seq_id")
    pos = np.asarray(table.column("pos").to_numpy(zero_copy_only=False), dtype=np.int64)
    n = seq.shape[0]
    new = np.ones(n, dtype=bool)
    new[1:] = (seq[1:] != seq[:-1]) | (pos[1:] <= pos[:-1])
    starts = np.flatnonzero(new).astype(np.int64)
    seq_start = np.append(starts, n)
    label_codes, labels = codes("prompt_id" if "prompt_id" in table.column_names else "seq_id")
    first = np.asarray(labels.to_pylist(), dtype=object)[label_codes[starts]].astype(str)
    names, prompt = np.unique(first, return_inverse=True)
    return seq_start, prompt.astype(np.int64), tuple(str(x) for x in names)


def topk_accept_from_mass(
    p_draft: np.ndarray,
    q_target: np.ndarray,
    draft_rank: np.ndarray,
    topk_mass: np.ndarray,
    k_grid: tuple[int, ...] | np.ndarray,
    vocab_size: int,
) -> np.ndarray:
    r"""Acceptance under top-k truncation (``docs/models.md`` §9 replay rule).

    .. math:: \hat p_k(d) = p(d) \text{ if rank}(d) \le k \text{ else } (1 - M_k)/(|V| - k),
              \quad \hat\pi_k = \min(1, q(d)/\hat p_k(d))
    """
    k = np.asarray(k_grid, dtype=np.float64)[None, :]  # [1, G]
    tail = np.clip(1.0 - topk_mass, 0.0, 1.0) / np.maximum(vocab_size - k, 1.0)  # [N, G]
    kept = draft_rank[:, None] <= k
    p_hat = np.where(kept | (k >= vocab_size), p_draft[:, None], tail)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(p_hat > 0, q_target[:, None] / p_hat, 1.0)
    return np.minimum(1.0, ratio)


def write_trace(table: pa.Table, path: Path, metadata: dict[str, Any]) -> None:
    """Write a trace atomically (temp file + rename) with its JSON metadata, zstd-compressed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    schema_meta = dict(table.schema.metadata or {})
    schema_meta[METADATA_KEY] = json.dumps(metadata, sort_keys=True).encode()
    table = table.replace_schema_metadata(schema_meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
