r"""CU-HLM: U-HLM's skip rule plus top-k truncation of the transmitted distribution.

Fixed k replays the trace's per-k columns. The online rule (CU-HLM eq. 26) picks, per token,
the smallest grid k whose distortion bound meets the budget :math:`\theta_{TV}`:

.. math::
    U_{TV}(k;\tilde\beta) = \frac{\lVert p - \hat p_k \rVert_1}
        {(1 - p(d))\,\ell(-1) + p(d)\,\ell(-\tilde\beta)},\quad
    \ell(x) = \ln(1 + e^x),\ \tilde\beta = \mathrm{clip}(a u + b, 0, 1)

(formula SEC, ``docs/theory.md`` §5). When no grid k meets the budget the whole vocabulary is
sent. Acceptance under truncation reuses the trace's accept-test uniform, so it is coupled to
the full-vocabulary outcome.
"""

from __future__ import annotations

import numpy as np

from cuhlm_sim.errors import ScenarioError
from cuhlm_sim.model.policies.base import POLICIES
from cuhlm_sim.model.policies.simple import UhlmPolicy


@POLICIES.register("cuhlm")
class CuhlmPolicy(UhlmPolicy):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        trace, vocab = self.trace, self.payload.params.vocab_size
        n = trace.num_rows
        k_p, budget = self.params.truncation_k, self.params.tv_budget
        if k_p is None and budget is None:
            self._k = np.full(n, vocab, dtype=np.int64)
            self._accept_prob = trace.accept_prob
            self._tv_out: np.ndarray | None = np.zeros(n)
        else:
            if trace.topk_accept_prob is None:
                raise ScenarioError(
                    "policy.truncation_k: the trace has no per-k columns (topk_accept_prob or "
                    "topk_mass + draft_rank); regenerate it or set truncation_k: null"
                )
            if k_p is not None:
                try:
                    g = trace.k_index(k_p)
                except KeyError:
                    grid = ", ".join(str(int(k)) for k in trace.k_grid)
                    raise ScenarioError(
                        f"policy.truncation_k: {k_p} is not in the trace's k_grid "
                        f"({grid}) and is smaller than |V| = {trace.vocab_size}"
                    ) from None
                g_idx = np.full(n, g, dtype=np.int64)
            else:
                g_idx = self._online_k_index(budget)
            full = g_idx < 0
            safe = np.where(full, 0, g_idx)
            self._k = np.where(full, vocab, trace.k_grid[safe])
            per_k = trace.topk_accept_prob[np.arange(n), safe]
            self._accept_prob = np.where(full, trace.accept_prob, per_k)
            tv = trace.topk_tv_out
            self._tv_out = None if tv is None else np.where(full, 0.0, tv[np.arange(n), safe])
        self._accepted = trace.u_accept < self._accept_prob
        self._bits = self.payload.truncated_bits(self._k)

    def _online_k_index(self, budget: float) -> np.ndarray:
        """Per row, the first grid column whose U_TV bound <= budget; -1 = none (send all)."""
        t = self.trace
        if t.topk_l1 is None:
            raise ScenarioError("policy.tv_budget: the trace has no topk_l1 column")
        beta = np.clip(self.params.rejection_a * t.uncertainty + self.params.rejection_b, 0, 1)
        denom = (1.0 - t.p_draft) * np.log1p(np.exp(-1.0)) + t.p_draft * np.log1p(np.exp(-beta))
        bound = t.topk_l1 / denom[:, None]  # [N, G]
        ok = bound <= budget
        first = np.argmax(ok, axis=1)
        return np.where(ok.any(axis=1), first, -1)

    def payload_bits(self, rows: np.ndarray) -> np.ndarray:
        return self._bits[rows]

    def accepted(self, rows: np.ndarray) -> np.ndarray:
        return self._accepted[rows]

    def truncation_k(self, rows: np.ndarray) -> np.ndarray:
        return self._k[rows]

    def output_tv(self) -> np.ndarray | None:
        return self._tv_out
