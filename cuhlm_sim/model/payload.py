r"""Uplink payload sizes (``docs/theory.md`` §5).

A truncated distribution sends k (probability, index) pairs: :math:`B(k) = k (b_p + b_i)`,
:math:`b_i = \lceil \log_2 |V| \rceil`. The full distribution is either indexed
(:math:`|V|(b_p+b_i)`, the papers' HLM baseline) or dense (:math:`|V| b_p`).
"""

from __future__ import annotations

import math

import numpy as np

from cuhlm_sim.model.params import PayloadParams


class PayloadModel:
    def __init__(self, params: PayloadParams) -> None:
        self.params = params
        self.index_bits = math.ceil(math.log2(params.vocab_size))
        per_entry = params.prob_bits + (self.index_bits if params.encoding == "indexed" else 0)
        self.full_bits = float(params.vocab_size * per_entry + params.overhead_bits)

    def truncated_bits(self, k: np.ndarray | int) -> np.ndarray:
        """Bits for top-k payloads; k >= |V| falls back to the full payload."""
        k = np.asarray(k, dtype=np.float64)
        bits = k * (self.params.prob_bits + self.index_bits) + self.params.overhead_bits
        return np.where(k >= self.params.vocab_size, self.full_bits, bits)
