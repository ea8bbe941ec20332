"""Closed-loop decoding: the policy acts, and both models continue from the actual output.

Per position (one draft token per round): the SLM gives p = softmax(z) at T = 1 and the draft d ~ p.
U-HLM / CU-HLM compute u from K tempered draws exactly as the trace generator does
(:func:`cuhlm_sim.traces.token_stats.uncertainty_count`) and keep d without the LLM iff u_count <= m
(m = ⌊u_th·K + 1e-9⌋, the simulator's rule). Otherwise d is verified by rejection sampling against
the distribution that would be sent: p for U-HLM, the top-k reconstruction p̂_k for CU-HLM (d is
still drawn from the full p, as in the trace replay, so the output law is exactly q only at k =
|V|). Rand-HLM skips with a fixed probability; HLM verifies everything; SLM-only never verifies;
LLM-only samples from q alone.

The LLM's KV cache lags behind over skipped tokens and is caught up in one forward pass over the
pending tokens when a verification needs it. Several prompts of one configuration run in lockstep as
a batch (left padding, attention masks, per-sequence positions); the LLM is run for the whole batch
whenever any sequence verifies, so all sequences always have the same number of pending tokens and
the caches need no holes (buffer and caches: :mod:`cuhlm_sim.traces.batch`, shared with the trace
generator). Batching changes only floating-point rounding (bf16 sums over different chunkings), not
the law of any token.

Randomness: one numpy stream per (seed, stream family, prompt) with a fixed number of uniforms per
position, whatever the path, so the same seed gives the same text, resuming is exact and the draft-
based configurations share their draws position by position.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cuhlm_sim.accuracy.configs import AccConfig, AccuracyError
from cuhlm_sim.traces.batch import CachedLM, TokenBuffer
from cuhlm_sim.traces.streams import uniforms_per_position as trace_uniforms
from cuhlm_sim.traces.token_stats import _Head, draw_inverse_cdf, uncertainty_count

#: Spawn-key namespace of the closed-loop token streams (the trace uses 1..3 and 100).
ACC_STREAM = 200


def uniforms_per_position(K: int) -> int:
    """The trace's layout [token, K temperatures, K draws, accept test, resample] plus one
    uniform for Rand-HLM's skip coin: 2K + 4."""
    return trace_uniforms(K) + 1


def unit_stream(seed: int, family: int, prompt_id: str) -> np.random.Generator:
    """default_rng(SeedSequence(seed, spawn_key=(200, family, sha256(prompt_id)[:4])))."""
    key = int.from_bytes(hashlib.sha256(prompt_id.encode()).digest()[:4], "big")
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(ACC_STREAM, family, key)))


# ----------------------------------------------------------------------------- per-token math


def distribution(z: Any) -> Any:
    """softmax(z) in float64 (the trace's p: log_softmax in float64, then exp)."""
    import torch

    return torch.log_softmax(z.double(), -1).exp()


def sample(prob: Any, u: float) -> int:
    """Inverse-CDF draw from ``prob`` (unnormalised is fine) with the uniform ``u``."""
    import torch

    return int(draw_inverse_cdf(torch.cumsum(prob, 0), torch.tensor(u, dtype=prob.dtype)))


def truncated_draft(p: Any, k: int) -> Any:
    """CU-HLM's reconstruction p̂_k: p on the top-k set, the rest of the mass spread evenly
    over the other |V| − k entries, as the server rebuilds it); p itself when k >= |V|."""
    import torch

    V = p.shape[-1]
    if k >= V:
        return p
    top = torch.topk(p, k)
    c = (1.0 - top.values.sum()).clamp(min=0.0) / (V - k)
    out = torch.full_like(p, float(c))
    out[top.indices] = top.values
    return out


@dataclass(frozen=True)
class Verdict:
    """Outcome of one verification: emitted token, accepted?, π = min(1, q(d)/p_sent(d))."""

    token: int
    accepted: bool
    accept_prob: float


def verify(p_sent: Any, q: Any, d: int, u_accept: float, u_resample: float) -> Verdict:
    """Speculative sampling: accept d iff U < min(1, q(d)/p_sent(d)),
    else emit a draw from (q − p_sent)⁺ normalised. With d ~ p_sent the output law is q."""
    import torch

    pd, qd = float(p_sent[d]), float(q[d])
    pi = 1.0 if pd <= 0.0 else min(1.0, qd / pd)
    if u_accept < pi:
        return Verdict(d, True, pi)
    res = torch.clamp(q - p_sent, min=0.0)
    if float(res.sum()) <= 0.0:  # p_sent == q up to rounding: nothing to correct
        return Verdict(d, True, pi)
    return Verdict(sample(res, u_resample), False, pi)


# ----------------------------------------------------------------------------- the loop


@dataclass
class SeqResult:
    """One sequence's output and per-position decisions (lists have one entry per token)."""

    tokens: list[int] = field(default_factory=list)
    skipped: list[bool] = field(default_factory=list)  # kept without the LLM
    verified: list[bool] = field(default_factory=list)  # sent to the LLM and tested
    accepted: list[bool] = field(default_factory=list)  # meaningful where verified
    accept_prob: list[float] = field(default_factory=list)  # NaN where not verified
    u_count: list[int] = field(default_factory=list)  # -1 where not computed
    prompt_tokens: int = 0
    stopped: bool = False  # ended on a stop id before max_new_tokens


@dataclass
class BatchTiming:
    """Wall seconds of one batch, split by where they went."""

    draft_s: float = 0.0
    target_s: float = 0.0
    total_s: float = 0.0
    draft_passes: int = 0
    target_passes: int = 0


class ClosedLoop:
    """Runs a configuration on a batch of tokenized prompts with a loaded pair."""

    def __init__(self, pair: Any, K: int = 20, theta_max: float = 2.0) -> None:
        if pair.draft is None:
            raise AccuracyError(
                "closed-loop accuracy needs a separate draft model; early-exit presets "
                "share the target's cache and cannot lag it"
            )
        self.pair, self.K, self.theta_max = pair, K, theta_max
        self.d_head = _Head(pair.draft)
        self.t_head = _Head(pair.target)
        self.n_u = uniforms_per_position(K)

    def run(
        self,
        cfg: AccConfig,
        prompts: list[list[int]],
        rngs: list[np.random.Generator],
        max_new_tokens: int,
        stops: list[int],
        pad_id: int,
        skip_prob: float | None = None,
    ) -> tuple[list[SeqResult], BatchTiming]:
        """Decode every prompt for up to ``max_new_tokens`` tokens (fewer after a stop id)."""
        import torch

        if cfg.K != self.K:
            raise AccuracyError(f"config {cfg.name}: K = {cfg.K}, the loop uses K = {self.K}")
        if cfg.policy == "rand_hlm" and (skip_prob is None or not 0.0 <= skip_prob <= 1.0):
            raise AccuracyError(f"config {cfg.name}: rand_hlm needs a skip probability in [0, 1]")
        B, K = len(prompts), self.K
        buf = TokenBuffer(prompts, pad_id, max_new_tokens)
        P = buf.prompt_len
        draft = CachedLM(self.pair.draft, self.d_head, buf)
        target = CachedLM(self.pair.target, self.t_head, buf)
        res = [SeqResult(prompt_tokens=len(p)) for p in prompts]
        active = [True] * B
        stop_set = set(stops)
        timing = BatchTiming()
        t_start = time.perf_counter()
        pol = cfg.policy
        for t in range(max_new_tokens):
            cur = P + t
            uu = [rngs[i].random(self.n_u) if active[i] else None for i in range(B)]
            zd = None
            if pol != "llm_only":
                t0 = time.perf_counter()
                zd = draft.advance(cur)
                timing.draft_s += time.perf_counter() - t0
                timing.draft_passes += 1
            # Decide what needs no LLM first: the draft, u, and whether to skip.
            plan: dict[int, tuple[Any, int, int]] = {}  # i -> (p, d, u_count) to verify
            out: dict[int, int] = {}
            for i in range(B):
                if not active[i] or pol == "llm_only":
                    continue
                u = uu[i]
                p = distribution(zd[i])
                d = sample(p, float(u[0]))
                u_count = -1
                if cfg.needs_u:
                    ut = torch.from_numpy(u)
                    u_count = uncertainty_count(
                        zd[i], d, ut[1 : 1 + K], ut[1 + K : 1 + 2 * K], self.theta_max
                    )
                if pol == "slm_only":
                    skip = True
                elif pol == "hlm":
                    skip = False
                elif pol == "rand_hlm":
                    skip = bool(u[3 + 2 * K] < skip_prob)
                else:
                    skip = u_count <= cfg.skip_count
                if skip:
                    out[i] = d
                    r = res[i]
                    r.skipped.append(True)
                    r.verified.append(False)
                    r.accepted.append(False)
                    r.accept_prob.append(math.nan)
                    r.u_count.append(u_count)
                else:
                    plan[i] = (p, d, u_count)
            if pol == "llm_only" or plan:
                t0 = time.perf_counter()
                zt = target.advance(cur)  # catches up over every pending token at once
                timing.target_s += time.perf_counter() - t0
                timing.target_passes += 1
                for i in range(B):
                    if not active[i]:
                        continue
                    r = res[i]
                    if pol == "llm_only":
                        out[i] = sample(distribution(zt[i]), float(uu[i][0]))
                        r.skipped.append(False)
                        r.verified.append(False)
                        r.accepted.append(False)
                        r.accept_prob.append(math.nan)
                        r.u_count.append(-1)
                        continue
                    if i not in plan:
                        continue
                    p, d, u_count = plan[i]
                    sent = truncated_draft(p, cfg.truncation_k) if pol == "cuhlm" else p
                    v = verify(
                        sent,
                        distribution(zt[i]),
                        d,
                        float(uu[i][1 + 2 * K]),
                        float(uu[i][2 + 2 * K]),
                    )
                    out[i] = v.token
                    r.skipped.append(False)
                    r.verified.append(True)
                    r.accepted.append(v.accepted)
                    r.accept_prob.append(v.accept_prob)
                    r.u_count.append(u_count)
            for i in range(B):
                if not active[i]:
                    continue  # filler stays pad with mask 0
                tok = out[i]
                res[i].tokens.append(tok)
                buf.put(cur, tok, i)
                if tok in stop_set:
                    active[i] = False
                    res[i].stopped = True
            if not any(active):
                break
        timing.total_s = time.perf_counter() - t_start
        return res, timing
