"""Per-position statistics of the real-trace generator, from draft and target logits.

Split from :mod:`cuhlm_sim.traces.generate` because it is the numerical core: verification
(``docs/theory.md`` §2.1), U-HLM uncertainty (§3) and the CU-HLM truncation columns (§5) over the
full vocabulary. torch is imported inside the classes so the package imports without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def draw_inverse_cdf(cdf: Any, u: Any) -> Any:
    """Inverse-CDF draw(s); cdf [..., V] unnormalised (any float dtype), u [...] in [0, 1)."""
    import torch

    x = (u * cdf[..., -1]).unsqueeze(-1)
    return torch.searchsorted(cdf, x, right=True).squeeze(-1).clamp(max=cdf.shape[-1] - 1)


def uncertainty_count(
    z_draft32: Any, d: int, theta_unif: Any, draw_unif: Any, theta_max: float
) -> int:
    """U-HLM uncertainty as a count (``docs/theory.md`` §3): how many of K draws differ from d.

    Draw j comes from softmax(z/θ_j), θ_j = θ_max·(1 − U_j) ∈ (0, θ_max], by inverse CDF with
    the uniform ``draw_unif[j]``; ``theta_unif`` and ``draw_unif`` are float64 tensors [K]. u =
    count / K. Shared by the trace generator and the closed-loop accuracy run so that a
    threshold means the same thing in both.
    """
    import torch

    theta = theta_max * (1.0 - theta_unif)
    inv = (1.0 / theta).to(torch.float32).unsqueeze(1)  # [K,1]
    cdf_k = torch.cumsum(torch.softmax(z_draft32.unsqueeze(0) * inv, -1), -1)  # [K,V]
    draws = draw_inverse_cdf(cdf_k, draw_unif.to(torch.float32))
    return int((draws != d).sum())


class PositionStats:
    """Per-position statistics from draft and target logits (torch, float64).

    Implements ``docs/theory.md`` §2.1 (verification), §3 (temperature-perturbation uncertainty
    and its quadrature mean ū), §5 (top-k reconstruction p̂_k, distortion ‖p − p̂_k‖₁, truncated
    acceptance min(1, q(d)/p̂_k(d)) and the output-law TV of ``docs/models.md`` §9).
    """

    def __init__(
        self, vocab_size: int, K: int, theta_max: float, k_grid: tuple[int, ...], quad_nodes: int
    ) -> None:
        import torch

        self.torch = torch
        self.V, self.K, self.theta_max = vocab_size, K, theta_max
        kk = [min(k, vocab_size) for k in k_grid]
        self.kk = torch.tensor(kk, dtype=torch.long)  # [G]
        self.full = torch.tensor([k >= vocab_size for k in k_grid])  # [G]
        x, w = np.polynomial.legendre.leggauss(quad_nodes)
        q_theta = theta_max * (x + 1) / 2  # [Q]
        self.q_inv = torch.tensor(1.0 / q_theta, dtype=torch.float32).unsqueeze(1)  # [Q,1]
        self.q_w = torch.tensor(w / 2, dtype=torch.float64)  # [Q], sums to 1
        self.pos = torch.arange(vocab_size)

    def _draw(self, cdf: Any, u: Any) -> Any:
        """Inverse-CDF draw(s); cdf [..., V] unnormalised, u [...] in [0, 1)."""
        return draw_inverse_cdf(cdf, u)

    def _tv_out(self, p: Any, q: Any, ps: Any, order: Any, c: Any, kk: Any, full: Any) -> Any:
        """TV(P_k, q) per k, in sorted order and float32 (the [G, V] block dominates the cost).

        P_k(v) = p(v)·m_k(v) + (1 − Σ_w p(w)·m_k(w))·r̂_k(v), m_k = min(1, q/p̂_k),
        r̂_k = (q − p̂_k)⁺ normalised (``docs/models.md`` §9).
        """
        torch = self.torch
        f32 = torch.float32
        ps32 = ps.to(f32).unsqueeze(0)  # [1,V]
        qs32 = q[order].to(f32).unsqueeze(0)  # [1,V]
        inside = self.pos.unsqueeze(0) < kk.unsqueeze(1)  # [G,V]
        phat = torch.where(inside, ps32, c.to(f32).unsqueeze(1))  # [G,V]
        pm = ps32 * torch.clamp(qs32 / phat, max=1.0)  # p·m_k
        res = torch.clamp(qs32 - phat, min=0.0)
        a_mass = pm.sum(1, keepdim=True).double()
        z_k = res.sum(1, keepdim=True).double()
        scale = torch.where(z_k > 0, (1.0 - a_mass) / z_k.clamp(min=1e-300), torch.zeros_like(z_k))
        diff = pm + scale.to(f32) * res - qs32
        tv = 0.5 * diff.abs().sum(1).double()
        return torch.where(full, torch.zeros_like(tv), tv)

    def __call__(self, z_draft: Any, z_target: Any, unif: np.ndarray) -> dict[str, Any]:
        torch, K, V = self.torch, self.K, self.V
        u = torch.from_numpy(unif)
        zd, zt = z_draft.double(), z_target.double()
        logp = torch.log_softmax(zd, -1)
        p = logp.exp()
        q = torch.softmax(zt, -1)
        d = int(self._draw(torch.cumsum(p, 0), u[0]))
        p_d, q_d = float(p[d]), float(q[d])
        pi = min(1.0, q_d / p_d)

        ps, order = torch.sort(p, descending=True, stable=True)
        rank = torch.empty_like(order)
        rank[order] = self.pos
        d_rank = int(rank[d]) + 1

        zd32 = z_draft.to(torch.float32)
        u_count = uncertainty_count(zd32, d, u[1 : 1 + K], u[1 + K : 1 + 2 * K], self.theta_max)
        # ū = 1 − (1/θ_max)∫ softmax(z/θ)_d dθ by Gauss–Legendre on [0, θ_max].
        zq = zd32.unsqueeze(0) * self.q_inv  # [Q,V]
        sm_d = torch.exp((zq[:, d] - torch.logsumexp(zq, -1)).double())
        u_expect = 1.0 - float((self.q_w * sm_d).sum())

        u_acc = float(u[1 + 2 * K])
        accepted = u_acc < pi
        resampled = None
        if not accepted:
            res = torch.clamp(q - p, min=0.0)
            resampled = int(self._draw(torch.cumsum(res, 0), u[2 + 2 * K]))

        # Top-k truncation over the grid (G values); S_k = first k entries of the sorted p.
        kk, full = self.kk, self.full
        cum = torch.cumsum(ps, 0)  # float64
        mass = torch.where(full, torch.ones_like(cum[kk - 1]), cum[kk - 1])  # [G]
        tail_n = (V - kk).clamp(min=1).double()
        c = torch.where(full, torch.zeros_like(mass), (1.0 - mass).clamp(min=0.0) / tail_n)
        # ‖p − p̂_k‖₁ = 2·Σ_{i ≥ k, p_(i) > c_k} (p_(i) − c_k): a prefix-sum difference.
        j = torch.searchsorted(-ps, -c, right=False).clamp(min=kk)  # entries > c_k: [k, j)
        cum0 = torch.cat([torch.zeros(1, dtype=cum.dtype), cum])
        l1 = 2.0 * ((cum0[j] - cum0[kk]) - (j - kk).double() * c)
        l1 = torch.where(full, torch.zeros_like(l1), l1.clamp(min=0.0))
        phat_d = torch.where(d_rank <= kk, torch.full_like(c, p_d), c)
        acc_k = torch.where(phat_d > 0, torch.clamp(q_d / phat_d, max=1.0), torch.ones_like(c))
        acc_k = torch.where(full, torch.full_like(c, pi), acc_k)
        tv_out = self._tv_out(p, q, ps, order, c, kk, full)
        return {
            "draft_token": d,
            "draft_rank": d_rank,
            "p_draft": p_d,
            "q_target": q_d,
            "accept_prob": pi,
            "overlap_alpha": float(torch.minimum(p, q).sum()),
            "entropy": float(torch.special.entr(p).sum()),
            "entropy_target": float(torch.special.entr(q).sum()),
            "top1_prob": float(ps[0]),
            "top2_prob": float(ps[1]) if V > 1 else 0.0,
            "target_top1": int(torch.argmax(q)),
            "uncertainty": u_count / K,
            "u_count": u_count,
            "u_expect": u_expect,
            "u_accept": u_acc,
            "accepted": accepted,
            "resampled_token": resampled,
            "out_token": d if accepted else resampled,
            "topk_mass": mass.numpy().astype(np.float32),
            "topk_l1": l1.numpy().astype(np.float32),
            "topk_accept_prob": acc_k.numpy().astype(np.float32),
            "topk_tv_out": tv_out.numpy().astype(np.float32),
        }


class _Head:
    """Logits from a hidden state in float32 (bf16 logits would quantise probabilities)."""

    def __init__(self, model: Any) -> None:
        import torch

        self.weight = model.get_output_embeddings().weight.detach().to(torch.float32)
        bias = getattr(model.get_output_embeddings(), "bias", None)
        self.bias = None if bias is None else bias.detach().to(torch.float32)
        self.softcap = getattr(model.config, "final_logit_softcapping", None)

    def __call__(self, h: Any) -> Any:
        import torch

        z = torch.nn.functional.linear(h.to(torch.float32), self.weight, self.bias)
        if self.softcap:
            z = torch.tanh(z / self.softcap) * self.softcap
        return z
