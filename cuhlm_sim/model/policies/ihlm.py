r"""Importance- and uncertainty-aware HLM (arXiv 2508.12590, "IU-HLM").

The paper transmits a draft only if it is uncertain *and* important (attention-based). The
simulator does not model attention: it reads a per-token importance score I in [0, 1] from the
trace's ``importance`` column (``cuhlm traces generate --importance``: the target's attention,
:mod:`cuhlm_sim.traces.importance`), or, with ``importance_source: synthetic``, draws
:math:`I \sim \mathrm{Beta}(\alpha, \beta)` once per trace row (ASM; fixed per trace so every
run and policy sees the same scores; ``summary.json`` and the manifest then say
``importance_source: synthetic``). Rules (``policy.importance_rule``):

- ``and`` (SEC reconstruction): :math:`\delta = 1\{u > u_{th}\} \wedge 1\{I \ge I_{th}\}`;
- ``weighted``: :math:`\delta = 1\{(1 - w) u + w I > u_{th}\}`.
"""

from __future__ import annotations

import numpy as np

from cuhlm_sim.errors import ScenarioError
from cuhlm_sim.model.params import PolicyParams
from cuhlm_sim.model.policies.base import POLICIES, Policy
from cuhlm_sim.model.rng import Stream
from cuhlm_sim.traces.arrays import TraceArrays


def importance_source_used(
    policy_kind: str | None, discipline: str | None, source: str | None
) -> str | None:
    """Where a run takes importance scores from: ``trace`` (the trace's ``importance``
    column), ``synthetic`` (the Beta fallback, flagged in summary.json and the manifest) or
    None when neither the policy (``ihlm``) nor the GPU queue (``priority_importance``) uses
    them."""
    if policy_kind == "ihlm" or discipline == "priority_importance":
        return source
    return None


def importance_scores(trace: TraceArrays, params: PolicyParams) -> np.ndarray:
    """float64 [num_rows]: the importance of each trace row."""
    if params.importance_source == "trace":
        if trace.importance is None:
            raise ScenarioError(
                "policy.importance_source: the trace has no `importance` column; "
                "set policy.importance_source: synthetic"
            )
        return np.asarray(trace.importance, dtype=np.float64)
    rng = np.random.default_rng(np.random.SeedSequence(0, spawn_key=(int(Stream.IMPORTANCE),)))
    return rng.beta(*params.importance_beta, trace.num_rows)


@POLICIES.register("ihlm")
class IhlmPolicy(Policy):
    uses_rng = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.importance = importance_scores(self.trace, self.params)
        p, u, imp = self.params, self.trace.uncertainty, self.importance
        if p.importance_rule == "weighted":
            w = p.importance_weight
            self._transmit = (1.0 - w) * u + w * imp > p.threshold
        else:  # u > u_th on the u_count grid, as U-HLM decides it
            self._transmit = ~self.trace.at_or_below(p.threshold) & (imp >= p.importance_threshold)

    def transmit(self, rows: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        return self._transmit[rows]
