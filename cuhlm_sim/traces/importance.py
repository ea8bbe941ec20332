r"""Attention importance of a draft position, from the target's attention (``--importance``).

The importance-aware scheme (arXiv 2508.12590, ``docs/theory.md`` §7, reconstructed there as
SEC/ASM) sends a draft only if it is uncertain and important, judging importance against a
threshold re-derived at every step from that step's attention distribution, to counter
attention collapse onto sink tokens. With the draft token d_t fed at position t:

- :math:`a_{t,j}` = attention from position t to position j, averaged over layers and heads;
- the sinks S = the first ``sinks`` tokens of the prompt (StreamingLLM's attention sinks) are
  left out, and so are padding columns; J_t = the other positions j ≤ t (t itself included);
- :math:`\mu_t, \sigma_t` = mean and (population) standard deviation of
  :math:`\{a_{t,j}\}_{j \in J_t}`; the rule of §7 transmits when
  :math:`a_{t,t} \ge \tau_t = \mu_t + \kappa\sigma_t`.

The trace stores :math:`I_t = \Phi((a_{t,t} - \mu_t)/\sigma_t)` (Φ the standard normal CDF),
a score in [0, 1] such that :math:`I_t \ge I_{th} \iff a_{t,t} \ge \mu_t + \Phi^{-1}(I_{th})
\sigma_t`: the simulator's fixed ``policy.importance_threshold`` I_th is §7's strictness
κ = Φ⁻¹(I_th), and the threshold itself stays adaptive. σ_t = 0 (all weights equal, or a
single position in J_t) gives I_t = 1, since then a_{t,t} ≥ τ_t for every κ.
"""

from __future__ import annotations

import math
from typing import Any

#: Prompt tokens treated as attention sinks (StreamingLLM keeps 4).
DEFAULT_SINKS = 4

DEFINITION = (
    "I_t = Phi((a_tt - mu_t) / sigma_t): a_tj = target attention from the draft position t to "
    "position j (the draft token fed at t, eager attention, mean over layers and heads); mu_t, "
    "sigma_t = mean and population std of a_tj over j <= t without padding and without the "
    "first {sinks} prompt tokens (attention sinks); sigma_t = 0 gives 1. I_t >= I_th iff "
    "a_tt >= mu_t + Phi^-1(I_th) sigma_t (docs/theory.md §7 with kappa = Phi^-1(I_th))."
)


def importance_from_attention(
    attentions: Any, mask: Any, prompt_start: Any, sinks: int, prompt_end: int | None = None
) -> Any:
    """I_t per row for a one-token pass whose query is the draft position.

    ``attentions``: the decoder's per-layer weights, each [B, H, 1, L]; ``mask`` [B, L] the
    attention mask of those L columns (the query is column L − 1); ``prompt_start`` [B] the
    column of each row's first prompt token after left padding, ``prompt_end`` the column after
    the prompts (left padding aligns their ends; None: L). Sinks are prompt tokens only: a
    prompt shorter than ``sinks`` has all its tokens as sinks. Returns float32 [B].
    """
    import torch

    a = torch.stack([w[:, :, -1, :].float() for w in attentions]).mean(dim=(0, 2))  # [B,L]
    L = a.shape[1]
    col = torch.arange(L, device=a.device).unsqueeze(0)  # [1,L]
    end = (prompt_start + sinks).clamp(max=L if prompt_end is None else prompt_end)
    sink = (col >= prompt_start.unsqueeze(1)) & (col < end.unsqueeze(1))
    keep = mask.bool() & ~sink  # [B,L]
    keep[:, -1] = True  # the draft position itself always counts
    n = keep.sum(1).clamp(min=1).float()
    mu = (a * keep).sum(1) / n
    var = (((a - mu.unsqueeze(1)) ** 2) * keep).sum(1) / n
    sigma = var.sqrt()
    z = (a[:, -1] - mu) / sigma.clamp(min=1e-30)
    score = 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))
    return torch.where(sigma > 0, score, torch.ones_like(score))
