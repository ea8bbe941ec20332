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


def uncertainty_counts(
    z_draft32: Any, d: Any, theta_unif: Any, draw_unif: Any, theta_max: float
) -> Any:
    """U-HLM uncertainty as counts (``docs/theory.md`` §3), one per row: how many of K draws
    differ from the row's draft token.

    z_draft32 [B, V] float32 logits, d [B] draft ids, theta_unif and draw_unif [B, K] float64.
    Draw j of a row comes from softmax(z/θ_j), θ_j = θ_max·(1 − U_j) ∈ (0, θ_max], by inverse
    CDF with the uniform ``draw_unif[:, j]``; u = count / K. Every operation works along the
    vocabulary of one row, so a row's count does not depend on the other rows.
    """
    import torch

    theta = theta_max * (1.0 - theta_unif)  # [B,K]
    inv = (1.0 / theta).to(torch.float32).unsqueeze(-1)  # [B,K,1]
    cdf_k = torch.cumsum(torch.softmax(z_draft32.unsqueeze(1) * inv, -1), -1)  # [B,K,V]
    draws = draw_inverse_cdf(cdf_k, draw_unif.to(torch.float32))  # [B,K]
    return (draws != d.unsqueeze(1)).sum(1)


def uncertainty_count(
    z_draft32: Any, d: int, theta_unif: Any, draw_unif: Any, theta_max: float
) -> int:
    """:func:`uncertainty_counts` of one row: z [V], theta_unif and draw_unif float64 [K].

    Shared by the trace generator and the closed-loop accuracy run so that a threshold means
    the same thing in both.
    """
    import torch

    d_t = torch.tensor([d], device=z_draft32.device)
    return int(
        uncertainty_counts(
            z_draft32.unsqueeze(0), d_t, theta_unif.unsqueeze(0), draw_unif.unsqueeze(0), theta_max
        )[0]
    )


#: Elements of the largest [rows, K | Q | G, V] block built at once, by device type: rows are
#: processed in chunks below it. On a CPU the vocabulary ops are memory-bound, and one row of a
#: 151,936-entry vocabulary per chunk keeps the blocks in cache (a whole batch of 8 at once was
#: ≈1.5× slower per row); a GPU takes the whole batch.
BLOCK_ELEMENTS = {"cpu": 1 << 22, "default": 1 << 27}


class PositionStats:
    """Per-position statistics from draft and target logits (torch, float64), a batch at once.

    Implements ``docs/theory.md`` §2.1 (verification), §3 (temperature-perturbation uncertainty
    and its quadrature mean ū), §5 (top-k reconstruction p̂_k, distortion ‖p − p̂_k‖₁, truncated
    acceptance min(1, q(d)/p̂_k(d)) and the output-law TV of ``docs/models.md`` §9).

    p = softmax(z_draft/T_draft) and q = softmax(z_target/T_target). The uncertainty draws use
    the draft's raw logits: θ is an absolute temperature whatever T_draft (at T = 1 both agree).
    Every operation works along the vocabulary of one row (sorts, cumulative sums, reductions,
    draws), so a row's numbers do not depend on the other rows of its batch.
    """

    def __init__(
        self,
        vocab_size: int,
        K: int,
        theta_max: float,
        k_grid: tuple[int, ...],
        quad_nodes: int,
        temperature_draft: float = 1.0,
        temperature_target: float = 1.0,
        device: Any = "cpu",
    ) -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.V, self.K, self.theta_max = vocab_size, K, theta_max
        self.t_draft, self.t_target = temperature_draft, temperature_target
        kk = [min(k, vocab_size) for k in k_grid]
        self.kk = torch.tensor(kk, dtype=torch.long, device=self.device)  # [G]
        self.full = torch.tensor([k >= vocab_size for k in k_grid], device=self.device)  # [G]
        x, w = np.polynomial.legendre.leggauss(quad_nodes)
        q_theta = theta_max * (x + 1) / 2  # [Q]
        self.q_inv = torch.tensor(1.0 / q_theta, dtype=torch.float32, device=self.device)
        self.q_w = torch.tensor(w / 2, dtype=torch.float64, device=self.device)  # sums to 1
        self.pos = torch.arange(vocab_size, device=self.device)
        budget = BLOCK_ELEMENTS.get(self.device.type, BLOCK_ELEMENTS["default"])
        self.chunk = max(1, budget // (max(K, quad_nodes, len(k_grid)) * vocab_size))

    def _tv_out(self, p: Any, q: Any, ps: Any, order: Any, c: Any) -> Any:
        """TV(P_k, q) per row and k, in sorted order and float32 (the [B, G, V] block dominates
        the cost). p, q, ps, order [B, V]; c [B, G].

        P_k(v) = p(v)·m_k(v) + (1 − Σ_w p(w)·m_k(w))·r̂_k(v), m_k = min(1, q/p̂_k),
        r̂_k = (q − p̂_k)⁺ normalised (``docs/models.md`` §9).
        """
        torch = self.torch
        f32 = torch.float32
        ps32 = ps.to(f32).unsqueeze(1)  # [B,1,V]
        qs32 = q.gather(1, order).to(f32).unsqueeze(1)  # [B,1,V]
        inside = self.pos.unsqueeze(0) < self.kk.unsqueeze(1)  # [G,V]
        phat = torch.where(inside, ps32, c.to(f32).unsqueeze(2))  # [B,G,V]
        pm = ps32 * torch.clamp(qs32 / phat, max=1.0)  # p·m_k
        res = torch.clamp(qs32 - phat, min=0.0)
        a_mass = pm.sum(2, keepdim=True).double()
        z_k = res.sum(2, keepdim=True).double()
        scale = torch.where(z_k > 0, (1.0 - a_mass) / z_k.clamp(min=1e-300), torch.zeros_like(z_k))
        diff = pm + scale.to(f32) * res - qs32
        tv = 0.5 * diff.abs().sum(2).double()  # [B,G]
        return torch.where(self.full, torch.zeros_like(tv), tv)

    def _u_expect(self, zd32: Any, d: Any) -> Any:
        """ū = 1 − (1/θ_max)∫ softmax(z/θ)_d dθ by Gauss–Legendre on [0, θ_max]; [B]."""
        torch = self.torch
        zq = zd32.unsqueeze(1) * self.q_inv.view(1, -1, 1)  # [B,Q,V]
        idx = d.view(-1, 1, 1).expand(-1, zq.shape[1], 1)
        sm_d = torch.exp((zq.gather(2, idx).squeeze(2) - torch.logsumexp(zq, -1)).double())
        return 1.0 - (self.q_w.unsqueeze(0) * sm_d).sum(1)

    def batch(self, z_draft: Any, z_target: Any, unif: np.ndarray) -> dict[str, np.ndarray]:
        """Columns for B positions: logits [B, V] (any float dtype and device), uniforms
        [B, 2K + 3] in the layout of :func:`~cuhlm_sim.traces.streams.uniforms_per_position`.
        Returns numpy arrays [B] (per-k columns [B, G]); ``resampled_token`` is −1 where the
        draft was accepted. Rows go through in chunks of ``self.chunk``."""
        n, step = z_draft.shape[0], self.chunk
        if n <= step:
            return self._batch(z_draft, z_target, unif)
        parts = [
            self._batch(z_draft[i : i + step], z_target[i : i + step], unif[i : i + step])
            for i in range(0, n, step)
        ]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def _batch(self, z_draft: Any, z_target: Any, unif: np.ndarray) -> dict[str, np.ndarray]:
        torch, K, V = self.torch, self.K, self.V
        dev = self.device
        u = torch.from_numpy(np.ascontiguousarray(unif, dtype=np.float64)).to(dev)  # [B,n_u]
        zd32 = z_draft.to(dev, torch.float32)
        zd, zt = z_draft.to(dev, torch.float64), z_target.to(dev, torch.float64)
        if self.t_draft != 1.0:
            zd = zd / self.t_draft
        if self.t_target != 1.0:
            zt = zt / self.t_target
        logp = torch.log_softmax(zd, -1)
        p = logp.exp()
        q = torch.softmax(zt, -1)
        d = draw_inverse_cdf(torch.cumsum(p, -1), u[:, 0])  # [B]
        p_d = p.gather(1, d.unsqueeze(1)).squeeze(1)
        q_d = q.gather(1, d.unsqueeze(1)).squeeze(1)
        pi = torch.clamp(q_d / p_d, max=1.0)

        ps, order = torch.sort(p, dim=-1, descending=True, stable=True)
        rank = torch.empty_like(order)
        rank.scatter_(1, order, self.pos.unsqueeze(0).expand_as(order))
        d_rank = rank.gather(1, d.unsqueeze(1)).squeeze(1) + 1

        u_count = uncertainty_counts(
            zd32, d, u[:, 1 : 1 + K], u[:, 1 + K : 1 + 2 * K], self.theta_max
        )
        u_expect = self._u_expect(zd32, d)

        u_acc = u[:, 1 + 2 * K]
        accepted = u_acc < pi
        res = torch.clamp(q - p, min=0.0)
        resampled = draw_inverse_cdf(torch.cumsum(res, -1), u[:, 2 + 2 * K])
        resampled = torch.where(accepted, torch.full_like(resampled, -1), resampled)

        # Top-k truncation over the grid (G values); S_k = first k entries of the sorted p.
        kk, full = self.kk, self.full
        cum = torch.cumsum(ps, -1)  # [B,V] float64
        mass = torch.where(full, torch.ones_like(cum[:, kk - 1]), cum[:, kk - 1])  # [B,G]
        tail_n = (V - kk).clamp(min=1).double()
        c = torch.where(full, torch.zeros_like(mass), (1.0 - mass).clamp(min=0.0) / tail_n)
        # ‖p − p̂_k‖₁ = 2·Σ_{i ≥ k, p_(i) > c_k} (p_(i) − c_k): a prefix-sum difference.
        j = torch.searchsorted(-ps, -c, right=False).clamp(min=kk)  # entries > c_k: [k, j)
        cum0 = torch.cat([torch.zeros_like(cum[:, :1]), cum], 1)
        kkb = kk.unsqueeze(0).expand_as(j)
        l1 = 2.0 * ((cum0.gather(1, j) - cum0.gather(1, kkb)) - (j - kkb).double() * c)
        l1 = torch.where(full, torch.zeros_like(l1), l1.clamp(min=0.0))
        phat_d = torch.where(d_rank.unsqueeze(1) <= kk, p_d.unsqueeze(1).expand_as(c), c)
        acc_k = torch.where(
            phat_d > 0, torch.clamp(q_d.unsqueeze(1) / phat_d, max=1.0), torch.ones_like(c)
        )
        acc_k = torch.where(full, pi.unsqueeze(1).expand_as(c), acc_k)
        tv_out = self._tv_out(p, q, ps, order, c)
        top = ps[:, 1] if V > 1 else torch.zeros_like(ps[:, 0])
        cols = {
            "draft_token": d,
            "draft_rank": d_rank,
            "p_draft": p_d,
            "q_target": q_d,
            "accept_prob": pi,
            "overlap_alpha": torch.minimum(p, q).sum(-1),
            "entropy": torch.special.entr(p).sum(-1),
            "entropy_target": torch.special.entr(q).sum(-1),
            "top1_prob": ps[:, 0],
            "top2_prob": top,
            "target_top1": torch.argmax(q, -1),
            "u_count": u_count,
            "u_expect": u_expect,
            "u_accept": u_acc,
            "accepted": accepted,
            "resampled_token": resampled,
            "topk_mass": mass,
            "topk_l1": l1,
            "topk_accept_prob": acc_k,
            "topk_tv_out": tv_out,
        }
        out = {k: v.cpu().numpy() for k, v in cols.items()}
        out["uncertainty"] = out["u_count"] / K
        out["out_token"] = np.where(out["accepted"], out["draft_token"], out["resampled_token"])
        return out

    def __call__(self, z_draft: Any, z_target: Any, unif: np.ndarray) -> dict[str, Any]:
        """One position (logits [V], uniforms [2K + 3]) as a row of Python scalars (per-k
        columns as float32 arrays): :meth:`batch` with B = 1."""
        b = self.batch(z_draft.unsqueeze(0), z_target.unsqueeze(0), np.asarray(unif)[None])
        row: dict[str, Any] = {}
        for k, v in b.items():
            row[k] = v[0].astype(np.float32) if k in _LIST_COLUMNS else v[0].item()
        if row["accepted"]:
            row["resampled_token"] = None
        return row


_LIST_COLUMNS = ("topk_mass", "topk_l1", "topk_accept_prob", "topk_tv_out")


class _Head:
    """Logits from a hidden state in float32 (bf16 logits would quantise probabilities).

    ``width`` keeps only the first rows of the output layer: two models whose output layers are
    padded to different sizes share the rows of the tokenizer's tokens.
    """

    def __init__(self, model: Any, width: int | None = None) -> None:
        import torch

        out = model.get_output_embeddings()
        rows = slice(None) if width is None else slice(0, width)
        self.weight = out.weight.detach()[rows].to(torch.float32)
        bias = getattr(out, "bias", None)
        self.bias = None if bias is None else bias.detach()[rows].to(torch.float32)
        self.softcap = getattr(model.config, "final_logit_softcapping", None)

    def __call__(self, h: Any) -> Any:
        import torch

        z = torch.nn.functional.linear(h.to(torch.float32), self.weight, self.bias)
        if self.softcap:
            z = torch.tanh(z / self.softcap) * self.softcap
        return z
