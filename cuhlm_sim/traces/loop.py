"""The all-transmit HLM loop (mode ``hlm_gamma1``) over a batch of prompts: one row per position.

Per position both models see the same context through their KV caches (:mod:`cuhlm_sim.traces.
batch`: left padding, attention masks, per-sequence positions, one cache row per sequence); the
statistics of all sequences come from one vectorised call (:class:`~cuhlm_sim.traces.
token_stats.PositionStats`), each sequence drawing its uniforms from its own stream, so a
sequence's rows do not depend on which other prompts share its batch up to floating-point
rounding of the padded forward passes (in float32; in bf16 that rounding flips draws:
:data:`cuhlm_sim.traces.metadata.BATCH_RTOL`). A sequence that stops leaves the batch.

With importance on, each row also gets the target's attention importance of the draft position
(:mod:`cuhlm_sim.traces.importance`), which needs the draft token fed at its position. When
every draft of a step was accepted, the draft is the token fed next anyway and the next step's
pass gives its attention; otherwise (a rejection, a sequence ending, the last step) one extra
target pass feeds the drafts and is rolled back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cuhlm_sim.traces.batch import CachedLM, TokenBuffer
from cuhlm_sim.traces.importance import importance_from_attention
from cuhlm_sim.traces.prompts import Prompt
from cuhlm_sim.traces.token_stats import PositionStats, _Head


@dataclass
class Timing:
    """Wall seconds by where they went, and the tokens they produced."""

    tokens: int = 0
    draft_s: float = 0.0
    target_s: float = 0.0
    importance_s: float = 0.0
    stats_s: float = 0.0
    seconds: float = 0.0

    def add(self, other: Timing) -> None:
        """Accumulate ``other`` into this one."""
        for k in vars(self):
            setattr(self, k, getattr(self, k) + getattr(other, k))


@dataclass
class _Seq:
    """One sequence's rows so far, as per-column lists."""

    prompt: Prompt
    prompt_len: int
    rng: np.random.Generator
    cols: dict[str, list[Any]] = field(default_factory=dict)
    importance: list[float] = field(default_factory=list)
    done: bool = False

    def add(self, row: dict[str, Any]) -> None:
        for k, v in row.items():
            self.cols.setdefault(k, []).append(v)


class HlmLoop:
    """Runs batches of prompts through a loaded pair; ``on_done`` receives each finished
    sequence's columns (lists, one entry per position) as soon as it is complete."""

    def __init__(
        self,
        pair: Any,
        stats: PositionStats,
        *,
        max_new_tokens: int,
        n_uniforms: int,
        stops: list[int],
        pad_id: int,
        importance_sinks: int | None = None,
        device: Any = "cpu",
    ) -> None:
        self.pair, self.stats = pair, stats
        self.max_new, self.n_u = max_new_tokens, n_uniforms
        self.stops, self.pad_id = set(stops), pad_id
        self.sinks = importance_sinks
        self.device = device
        width = pair.vocab_size
        self.t_head = _Head(pair.target, width)
        self.d_head = _Head(pair.draft, width) if pair.draft is not None else self.t_head

    def _logits(self, draft: CachedLM | None, target: CachedLM, upto: int, attn: bool) -> Any:
        """(draft logits, target logits, attentions or None, draft s, target s) at upto − 1."""
        import torch

        pair = self.pair
        kw = {"output_attentions": True} if attn else {}
        t0 = time.perf_counter()
        if draft is None:  # early-exit draft: one target pass gives both
            out = target.forward(upto, output_hidden_states=True, **kw)
            with torch.inference_mode():
                zt = self.t_head(out.last_hidden_state[:, -1])
                h = out.hidden_states[pair.draft_exit_layer][:, -1]
                zd = self.d_head(pair.target.model.norm(h))
            dt = time.perf_counter() - t0
            return zd, zt, out.attentions if attn else None, dt, dt
        zd = draft.advance(upto)
        t1 = time.perf_counter()
        out = target.forward(upto, **kw)
        with torch.inference_mode():
            zt = self.t_head(out.last_hidden_state[:, -1])
        return zd, zt, out.attentions if attn else None, t1 - t0, time.perf_counter() - t1

    def run(
        self,
        prompts: list[Prompt],
        token_ids: list[list[int]],
        rngs: list[np.random.Generator],
        on_done: Callable[[Prompt, dict[str, list[Any]]], None],
        on_token: Callable[[int], None] | None = None,
    ) -> Timing:
        """Decode one batch to the end (every sequence stops or reaches max_new_tokens)."""
        import torch

        timing = Timing()
        t_start = time.perf_counter()
        buf = TokenBuffer(token_ids, self.pad_id, self.max_new, self.device)
        P = buf.prompt_len
        target = CachedLM(self.pair.target, self.t_head, buf)
        draft = CachedLM(self.pair.draft, self.d_head, buf) if self.pair.draft is not None else None
        seqs = [
            _Seq(p, len(ids), rng) for p, ids, rng in zip(prompts, token_ids, rngs, strict=True)
        ]
        rows = list(range(len(seqs)))  # batch row -> sequence
        start = torch.tensor([P - len(ids) for ids in token_ids], device=buf.ids.device)
        with_imp = self.sinks is not None
        pending = False  # the last rows' importance comes from the next regular pass
        for t in range(self.max_new):
            cur = P + t
            zd, zt, attn, td, tt = self._logits(draft, target, cur, with_imp and pending)
            timing.draft_s += td
            timing.target_s += tt if draft is not None else 0.0
            n = len(rows)
            if pending:
                imp = importance_from_attention(attn, buf.mask[:, :cur], start, self.sinks, P)
                for r, v in enumerate(imp.tolist()):
                    seqs[rows[r]].importance.append(v)
                pending = False
            t0 = time.perf_counter()
            unif = np.stack([seqs[i].rng.random(self.n_u) for i in rows])
            cols = self.stats.batch(zd, zt, unif)
            timing.stats_s += time.perf_counter() - t0
            last = t == self.max_new - 1
            finished = [last or int(cols["out_token"][r]) in self.stops for r in range(n)]
            for r, i in enumerate(rows):
                row = {k: v[r] for k, v in cols.items()}
                row.update(pos=t, ctx_len=seqs[i].prompt_len + t)
                row.update(t_draft_ms=td * 1e3 / n, t_target_ms=tt * 1e3 / n)
                seqs[i].add(row)
            timing.tokens += n
            if on_token is not None:
                on_token(n)
            if with_imp:
                rejected = bool((cols["out_token"] != cols["draft_token"]).any())
                if rejected or any(finished):
                    t0 = time.perf_counter()
                    buf.put(cur, cols["draft_token"])
                    out = target.forward(cur + 1, output_attentions=True)
                    imp = importance_from_attention(
                        out.attentions, buf.mask[:, : cur + 1], start, self.sinks, P
                    )
                    target.rollback(1)
                    for r, v in enumerate(imp.tolist()):
                        seqs[rows[r]].importance.append(v)
                    timing.importance_s += time.perf_counter() - t0
                else:
                    pending = True
            buf.put(cur, cols["out_token"])
            keep = [r for r in range(n) if not finished[r]]
            for r in range(n):
                if finished[r]:
                    self._finish(seqs[rows[r]], on_done)
            if not keep:
                break
            if len(keep) < n:
                idx = torch.tensor(keep, device=buf.ids.device)
                buf.select(idx)
                target.select(idx)
                if draft is not None:
                    draft.select(idx)
                start = start[idx]
                rows = [rows[r] for r in keep]
        timing.seconds = time.perf_counter() - t_start
        return timing

    def _finish(self, seq: _Seq, on_done: Callable[[Prompt, dict[str, list[Any]]], None]) -> None:
        cols = dict(seq.cols)
        if self.sinks is not None:
            assert len(seq.importance) == len(cols["pos"]), "importance rows out of step"
            cols["importance"] = seq.importance
        seq.done = True
        on_done(seq.prompt, cols)
