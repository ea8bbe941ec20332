r"""A synthetic trace with the real schema, from a documented statistical model.

Every feature and test must run without model weights, so this writes the same columns as the
real generator (``docs/models.md`` §8, "synthetic fallback"). The model, per row:

1. Expected uncertainty :math:`\bar u \sim w\,\mathrm{Beta}(\alpha_c,\beta_c) +
   (1-w)\,\mathrm{Beta}(\alpha_u,\beta_u)` (confident vs. uncertain tokens; ASM).
2. Measured uncertainty :math:`u = \mathrm{Binomial}(K, \bar u)/K` (the U-HLM estimator with
   i.i.d. temperatures, ``docs/theory.md`` §3).
3. Rejection probability :math:`\beta = \mathrm{clip}(a u + b + \varepsilon, 0, 1)`,
   :math:`\varepsilon \sim N(0, \sigma^2)`, defaults a = 0.815, b = -0.066 (CU-HLM, SEC);
   accept probability :math:`\pi = 1 - \beta`; ``accepted`` = :math:`U < \pi`.
4. Draft distribution: top-1 mass :math:`c = 1 - \gamma\bar u`, the other :math:`|V|-1` entries
   follow a power law :math:`t_r \propto r^{-s}` (r >= 2) scaled to :math:`1-c`; the draft token
   has rank 1 with probability c, else a rank drawn from the tail. Top-k mass, L1 distortion
   and entropy follow in closed form from this shape.
5. Target probability :math:`q(d) = \pi\,p(d)` when :math:`\pi < 1`, else
   :math:`p(d) + (1 - p(d))V`, :math:`V \sim U(0, 1/2)`.

Assumptions (ASM) are the mixture weights, the tail exponent and gamma; set them to match a
real trace with ``cuhlm traces fit``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from cuhlm_sim import __version__
from cuhlm_sim.traces.arrays import TraceArrays
from cuhlm_sim.traces.io import arrays_from_table, topk_accept_from_mass
from cuhlm_sim.traces.schema import DEFAULT_K_GRID, KINDS, SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class SynthParams:
    """Parameters of the synthetic trace model (see the module docstring)."""

    num_rows: int = 20_000
    seq_len: int = 256
    vocab_size: int = 151_936
    K: int = 20
    weight_confident: float = 0.75
    beta_confident: tuple[float, float] = (0.5, 40.0)
    beta_uncertain: tuple[float, float] = (1.6, 2.4)
    rejection_a: float = 0.815
    rejection_b: float = -0.066
    rejection_noise_sd: float = 0.05
    top1_gamma: float = 0.9
    tail_exponent: float = 1.1
    k_grid: tuple[int, ...] = DEFAULT_K_GRID
    prompt_len: int = 128


def _tail_tables(
    vocab_size: int, s: float, k_grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Per-k cumulative tail mass and L1 of the power-law tail, its entropy and rank CDF."""
    r = np.arange(2, vocab_size + 1, dtype=np.float64)
    t = r**-s
    t /= t.sum()  # [|V|-1], t[i] is the mass of rank i + 2
    cum = np.concatenate(([0.0], np.cumsum(t)))  # cum[j] = mass of ranks 2..j+1
    kept = np.empty(k_grid.size)
    l1 = np.empty(k_grid.size)
    for g, k in enumerate(k_grid):
        k = int(min(k, vocab_size))
        kept[g] = cum[k - 1]  # ranks 2..k
        rest = t[k - 1 :]
        if rest.size == 0:
            l1[g] = 0.0
        else:
            uniform = (1.0 - kept[g]) / rest.size
            l1[g] = np.abs(rest - uniform).sum()
    entropy = float(-(t * np.log(t)).sum())
    return kept, l1, entropy, np.cumsum(t)


def synth_table(params: SynthParams = SynthParams(), seed: int = 0) -> tuple[pa.Table, dict]:
    """Draw a synthetic trace; returns the Arrow table and its metadata."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x5E17,)))
    n, vocab = params.num_rows, params.vocab_size
    k_grid = np.asarray(params.k_grid, dtype=np.int64)
    tail_kept, tail_l1, tail_entropy, tail_cdf = _tail_tables(vocab, params.tail_exponent, k_grid)

    confident = rng.random(n) < params.weight_confident
    u_expect = np.where(
        confident, rng.beta(*params.beta_confident, n), rng.beta(*params.beta_uncertain, n)
    )
    u_count = rng.binomial(params.K, u_expect)
    u = u_count / params.K
    beta = np.clip(
        params.rejection_a * u + params.rejection_b + rng.normal(0, params.rejection_noise_sd, n),
        0.0,
        1.0,
    )
    accept_prob = 1.0 - beta
    u_accept = rng.random(n)
    accepted = u_accept < accept_prob

    c = np.clip(1.0 - params.top1_gamma * u_expect, 1e-6, 1.0)  # top-1 mass
    is_top1 = rng.random(n) < c
    tail_rank = np.searchsorted(tail_cdf, rng.random(n) * tail_cdf[-1]) + 2
    rank = np.where(is_top1, 1, np.minimum(tail_rank, vocab))
    t_rank = (rank.astype(np.float64) ** -params.tail_exponent) / _tail_norm(
        vocab, params.tail_exponent
    )
    p_draft = np.where(is_top1, c, (1.0 - c) * t_rank)
    q_target = np.where(
        accept_prob < 1.0,
        accept_prob * p_draft,
        np.minimum(1.0, p_draft + (1.0 - p_draft) * rng.uniform(0, 0.5, n)),
    )
    accept_prob = np.minimum(1.0, q_target / p_draft)  # exact in float32 round trip
    accepted = u_accept < accept_prob

    with np.errstate(divide="ignore", invalid="ignore"):
        h_top = -np.where(c > 0, c * np.log(c), 0.0)
        one_c = 1.0 - c
        h_tail = np.where(one_c > 0, -one_c * np.log(one_c) + one_c * tail_entropy, 0.0)
    entropy = h_top + h_tail
    topk_mass = c[:, None] + one_c[:, None] * tail_kept[None, :]  # [n, G]
    topk_mass[:, k_grid >= vocab] = 1.0
    topk_l1 = one_c[:, None] * tail_l1[None, :]  # [n, G]
    topk_accept = topk_accept_from_mass(p_draft, q_target, rank, topk_mass, k_grid, vocab)

    seq = np.arange(n) // params.seq_len
    pos = np.arange(n) % params.seq_len
    kinds = np.asarray(KINDS)[seq % len(KINDS)]
    draft_token = rng.integers(0, vocab, n)
    resampled = np.where(accepted, -1, rng.integers(0, vocab, n))
    overlap = np.clip(1.0 - (params.rejection_a * u_expect + params.rejection_b), 0.0, 1.0)
    G = k_grid.size

    def fixed_list(a: np.ndarray) -> pa.Array:
        return pa.FixedSizeListArray.from_arrays(pa.array(a.astype(np.float32).ravel()), G)

    table = pa.table(
        {
            "seq_id": pa.array([f"synth-{s}" for s in seq]).dictionary_encode(),
            "prompt_id": pa.array([f"synth-{s}" for s in seq]).dictionary_encode(),
            "kind": pa.array(kinds).dictionary_encode(),
            "pos": pa.array(pos.astype(np.int32)),
            "ctx_len": pa.array((pos + params.prompt_len).astype(np.int32)),
            "draft_token": pa.array(draft_token.astype(np.int32)),
            "draft_rank": pa.array(rank.astype(np.int32)),
            "p_draft": pa.array(p_draft.astype(np.float32)),
            "q_target": pa.array(q_target.astype(np.float32)),
            "accept_prob": pa.array(accept_prob.astype(np.float32)),
            "overlap_alpha": pa.array(overlap.astype(np.float32)),
            "entropy": pa.array(entropy.astype(np.float32)),
            "top1_prob": pa.array(c.astype(np.float32)),
            "top2_prob": pa.array((one_c * _t2(params)).astype(np.float32)),
            "uncertainty": pa.array(u.astype(np.float32)),
            "u_count": pa.array(u_count.astype(np.int16)),
            "u_expect": pa.array(u_expect.astype(np.float32)),
            "u_accept": pa.array(u_accept.astype(np.float32)),
            "accepted": pa.array(accepted),
            "resampled_token": pa.array(resampled.astype(np.int32), mask=accepted),
            "out_token": pa.array(np.where(accepted, draft_token, resampled).astype(np.int32)),
            "topk_mass": fixed_list(topk_mass),
            "topk_l1": fixed_list(topk_l1),
            "topk_accept_prob": fixed_list(topk_accept),
        }
    )
    meta = {
        "schema_version": SCHEMA_VERSION,
        "created_utc": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "generator": f"cuhlm_sim.traces.synth {__version__}",
        "mode": "synthetic",
        "vocab_size": vocab,
        "K": params.K,
        "theta_law": "binomial(K, u_expect) (synthetic)",
        "k_grid": [int(k) for k in k_grid],
        "seed": seed,
        "n_tokens": n,
        "synth_params": asdict(params),
        "approximation": "rows are independent draws from the synthetic model; no real text",
    }
    return table, meta


def _tail_norm(vocab: int, s: float) -> float:
    return float((np.arange(2, vocab + 1, dtype=np.float64) ** -s).sum())


def _t2(params: SynthParams) -> float:
    return 2.0**-params.tail_exponent / _tail_norm(params.vocab_size, params.tail_exponent)


def synth_arrays(params: SynthParams = SynthParams(), seed: int = 0) -> TraceArrays:
    """The synthetic trace directly as arrays (no file), for ``trace.path: null``."""
    table, meta = synth_table(params, seed)
    return arrays_from_table(table, meta, source="synthetic trace")
