"""The baselines: HLM (always transmit), SLM-only (never), LLM-only (no SLM at all) and U-HLM
(skip when u <= u_th), ``docs/theory.md`` §4 and §9."""

from __future__ import annotations

import numpy as np

from cuhlm_sim.model.policies.base import POLICIES, Policy


@POLICIES.register("hlm")
class HlmPolicy(Policy):
    """HLM: every draft is verified with its full distribution."""

    uses_rng = False

    def transmit(self, rows: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        return np.ones(rows.shape, dtype=bool)


@POLICIES.register("slm_only")
class SlmOnlyPolicy(Policy):
    """SLM-only: the device emits every draft; nothing is sent."""

    uses_rng = False

    def transmit(self, rows: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        return np.zeros(rows.shape, dtype=bool)


@POLICIES.register("llm_only")
class LlmOnlyPolicy(Policy):
    """LLM-only: the base station generates every token; only the downlink is used."""

    mode = "llm_only"
    uses_rng = False

    def transmit(self, rows: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        return np.ones(rows.shape, dtype=bool)

    def payload_bits(self, rows: np.ndarray) -> np.ndarray:
        return np.zeros(rows.shape)

    def accepted(self, rows: np.ndarray) -> np.ndarray:
        return np.ones(rows.shape, dtype=bool)

    def exact_rejection(self) -> np.ndarray:
        return np.zeros(self.trace.num_rows)  # the LLM samples the token itself


@POLICIES.register("uhlm")
class UhlmPolicy(Policy):
    """U-HLM: skip the uplink and the LLM when the SLM's uncertainty u <= u_th (decided once
    per trace row on the u_count grid, :meth:`TraceArrays.at_or_below`)."""

    uses_rng = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._transmit = ~self.trace.at_or_below(self.params.threshold)

    def transmit(self, rows: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        return self._transmit[rows]


@POLICIES.register("random_skip")
class RandomSkipPolicy(Policy):
    """Rand-HLM: skip each token with a fixed probability, by default U-HLM's skip rate at
    the same threshold on this trace (the matching is an assumption, ``docs/theory.md`` §4)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        p = self.params.skip_probability
        self.skip_probability = (
            self.trace.skip_fraction(self.params.threshold) if p is None else float(p)
        )

    def transmit(self, rows: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        return rng.random(rows.shape[0]) >= self.skip_probability
