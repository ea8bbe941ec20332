"""The closed loop on a tiny random Qwen2 pair, checked against a cache-free numpy reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.accuracy.conftest import (
    K,
    full_logits,
    inv_cdf,
    phat,
    reference_decode,
    softmax64,
)

pytestmark = pytest.mark.traces

STOP = 3  # <|im_end|> of the tiny tokenizer
PAD = 1
PROMPTS = ("the sky is blue and", "def x return", "why is the water blue in the sun and rain")


def _ids(pair: Any) -> list[list[int]]:
    return [pair.tokenizer(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]


def _cfg(policy: str, **kw: Any) -> Any:
    from cuhlm_sim.accuracy.configs import AccConfig

    kw.setdefault("K", K)
    if policy == "rand_hlm":
        kw.setdefault("skip_prob_from", "x")
    return AccConfig(policy, policy, **kw)


def _run(pair: Any, cfg: Any, prompts: list[list[int]], n: int = 16, seed: int = 0, **kw: Any):
    from cuhlm_sim.accuracy.decode import ClosedLoop, unit_stream

    loop = ClosedLoop(pair, K, 2.0)
    rngs = [unit_stream(seed, cfg.family, f"p{i}") for i in range(len(prompts))]
    return loop.run(cfg, prompts, rngs, n, [STOP], PAD, **kw)[0]


CASES = [
    ("llm_only", {}),
    ("slm_only", {}),
    ("hlm", {}),
    ("uhlm", {"skip_count": 12}),
    ("cuhlm", {"skip_count": 12, "truncation_k": 4}),
    ("rand_hlm", {}),
]


@pytest.mark.parametrize(("policy", "kw"), CASES)
def test_matches_cache_free_reference(tiny_pair: Any, policy: str, kw: dict[str, Any]) -> None:
    """Token for token, incl. u_count, skips and verdicts: the lagging LLM cache, its catch-up,
    the skip rule on the integer grid and the verification all agree with a plain
    re-derivation from full forward passes."""
    from cuhlm_sim.accuracy.decode import unit_stream

    cfg = _cfg(policy, **kw)
    prompts = _ids(tiny_pair)
    extra = {"skip_prob": 0.4} if policy == "rand_hlm" else {}
    got = _run(tiny_pair, cfg, prompts, **extra)
    for i, prompt in enumerate(prompts):
        ref = reference_decode(
            tiny_pair,
            policy,
            prompt,
            unit_stream(0, cfg.family, f"p{i}"),
            16,
            {STOP},
            skip_count=kw.get("skip_count"),
            k=kw.get("truncation_k"),
            skip_prob=0.4,
        )
        r = got[i]
        assert r.tokens == ref["tokens"]
        assert r.skipped == ref["skipped"]
        assert r.u_count == ref["u_count"]
        verified = [a is not None for a in ref["accepted"]]
        assert r.verified == verified
        assert [a for a, v in zip(r.accepted, verified, strict=True) if v] == [
            a for a in ref["accepted"] if a is not None
        ]
    if policy in ("uhlm", "cuhlm", "rand_hlm"):  # the case exercises both branches
        flat_skip = [s for r in got for s in r.skipped]
        assert 0 < sum(flat_skip) < len(flat_skip)


@pytest.mark.parametrize(("policy", "kw"), CASES)
def test_batched_equals_unbatched(tiny_pair: Any, policy: str, kw: dict[str, Any]) -> None:
    """Left padding, masks and per-sequence positions: a batch gives each prompt's own text."""
    cfg = _cfg(policy, **kw)
    prompts = _ids(tiny_pair)
    extra = {"skip_prob": 0.4} if policy == "rand_hlm" else {}
    batched = _run(tiny_pair, cfg, prompts, n=20, **extra)
    for i, prompt in enumerate(prompts):
        from cuhlm_sim.accuracy.decode import ClosedLoop, unit_stream

        one = ClosedLoop(tiny_pair, K, 2.0).run(
            cfg, [prompt], [unit_stream(0, cfg.family, f"p{i}")], 20, [STOP], PAD, **extra
        )[0][0]
        assert batched[i].tokens == one.tokens
        assert batched[i].skipped == one.skipped and batched[i].u_count == one.u_count


def test_skipped_rejection_changes_the_continuation(tiny_pair: Any) -> None:
    """Issue 13 (a): same seed, HLM (always verify) vs U-HLM at u_th = 1 (always skip). They agree
    up to the first position t* where HLM rejected the draft; there U-HLM keeps that draft,
    which a cache-free recomputation confirms the LLM rejects (U ≥ min(1, q(d)/p(d))), and the
    two texts part from t* on."""
    from cuhlm_sim.accuracy.decode import uniforms_per_position, unit_stream

    prompt = _ids(tiny_pair)[2]
    hlm = _run(tiny_pair, _cfg("hlm"), [prompt], n=24)[0]
    skip_all = _run(tiny_pair, _cfg("uhlm", skip_count=K), [prompt], n=24)[0]
    assert all(skip_all.skipped) and not any(skip_all.verified)
    t_star = next(t for t, a in enumerate(hlm.accepted) if not a)
    assert hlm.tokens[:t_star] == skip_all.tokens[:t_star]
    # independent check of position t*: the draft, and the LLM's verdict on it
    rng = unit_stream(0, 1, "p0")
    n_u = uniforms_per_position(K)
    for _ in range(t_star):
        rng.random(n_u)
    u = rng.random(n_u)
    ctx = prompt + hlm.tokens[:t_star]
    p = softmax64(full_logits(tiny_pair.draft, ctx))
    q = softmax64(full_logits(tiny_pair.target, ctx))
    d = inv_cdf(p, u[0])
    assert u[1 + 2 * K] >= min(1.0, q[d] / p[d])  # the LLM would have rejected d
    assert skip_all.tokens[t_star] == d != hlm.tokens[t_star]
    assert skip_all.tokens[t_star + 1 :] != hlm.tokens[t_star + 1 :]


def test_llm_only_reproduces_itself_and_seeds_differ(tiny_pair: Any) -> None:
    """Issue 13 (b)."""
    cfg = _cfg("llm_only")
    prompts = _ids(tiny_pair)
    a = _run(tiny_pair, cfg, prompts, n=24, seed=0)
    b = _run(tiny_pair, cfg, prompts, n=24, seed=0)
    c = _run(tiny_pair, cfg, prompts, n=24, seed=1)
    assert [r.tokens for r in a] == [r.tokens for r in b]
    assert all(x.tokens != y.tokens for x, y in zip(a, c, strict=True))


# ------------------------------------------------------------------ rejection sampling laws

P = np.array([0.40, 0.25, 0.15, 0.10, 0.06, 0.04])
Q = np.array([0.10, 0.30, 0.05, 0.25, 0.10, 0.20])
N = 20_000


def _law(sent: np.ndarray, draft_law: np.ndarray, seed: int) -> np.ndarray:
    """Empirical output law of ``verify`` with d ~ draft_law, verified against ``sent``."""
    import torch

    from cuhlm_sim.accuracy.decode import verify

    rng = np.random.default_rng(seed)
    ts, tq = torch.tensor(sent), torch.tensor(Q)
    cdf = np.cumsum(draft_law)
    ds = np.minimum(np.searchsorted(cdf, rng.random(N), side="right"), len(cdf) - 1)
    out = [verify(ts, tq, int(d), rng.random(), rng.random()).token for d in ds]
    return np.bincount(out, minlength=len(Q))


def test_rejection_sampling_reproduces_q() -> None:
    """Issue 13 (c): d ~ p verified against p gives exactly q (chi-square)."""
    from scipy import stats

    counts = _law(P, P, 1)
    assert stats.chisquare(counts, N * Q).pvalue > 1e-3


def test_truncated_verification_laws() -> None:
    """Issue 13 (c), CU-HLM: with d drawn from the sent p̂_k the output law is q again; with d
    from the full p (what CU-HLM does: the draft is sampled before truncation) it is
    P_k(v) = p·m + (1 − Σp·m)·r̂, which differs from q. Both are checked by chi-square against
    laws computed here by hand."""
    import torch
    from scipy import stats

    from cuhlm_sim.accuracy.decode import truncated_draft

    k = 2
    ph = phat(P, k)
    np.testing.assert_allclose(truncated_draft(torch.tensor(P), k).numpy(), ph, atol=1e-15)
    np.testing.assert_allclose(truncated_draft(torch.tensor(P), 6).numpy(), P)
    assert stats.chisquare(_law(ph, ph, 2), N * Q).pvalue > 1e-3
    m = np.minimum(1.0, Q / ph)
    res = np.maximum(Q - ph, 0.0)
    law = P * m + (1.0 - (P * m).sum()) * res / res.sum()
    assert 0.5 * np.abs(law - Q).sum() > 0.05  # a real difference, not noise
    counts = _law(ph, P, 3)
    assert stats.chisquare(counts, N * law).pvalue > 1e-3
    assert stats.chisquare(counts, N * Q).pvalue < 1e-6


def test_grid_thresholds_and_configs() -> None:
    from cuhlm_sim.accuracy.configs import AccuracyError, default_configs, grid_count, select

    assert grid_count(0.016, 20) == 0 and grid_count(0.073, 20) == 1 and grid_count(0.5, 20) == 10
    assert grid_count(-0.3, 20) == -1  # never skip
    cfgs = default_configs(0.016)
    names = [c.key for c in cfgs]
    assert names == [
        "llm_only__s0",
        "llm_only__s1",
        "slm_only__s0",
        "hlm__s0",
        "uhlm_0.00__s0",
        "uhlm_0.05__s0",
        "uhlm_0.50__s0",
        "cuhlm_k30_0.05__s0",
        "rand_hlm__s0",
    ]
    by = {c.key: c for c in cfgs}
    assert by["uhlm_0.05__s0"].threshold == 0.05 and by["uhlm_0.05__s0"].skip_count == 1
    assert by["rand_hlm__s0"].skip_prob_from == "uhlm_0.05"
    kept = [c.key for c in select(cfgs, ["rand_hlm"])]
    assert kept == ["llm_only__s0", "uhlm_0.05__s0", "rand_hlm__s0"]
    assert [c.key for c in select(cfgs, ["llm_only@1"])] == ["llm_only__s0", "llm_only__s1"]
    with pytest.raises(AccuracyError, match="--configs"):
        select(cfgs, ["nope"])
    with pytest.raises(AccuracyError, match="collide"):
        default_configs(0.06)  # rounds onto the papers' 0.073 grid value
