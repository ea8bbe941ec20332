"""Documented verification-latency profiles t(b) for ``server.profile``.

Each profile is a (batch size, seconds) table for one verification of one draft token per
sequence, i.e. one decode step of the LLM over a batch of b independent sequences. Sources and
assumptions are stated per profile; every number not measured is marked ASM.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LatencyProfile:
    name: str
    table: tuple[tuple[int, float], ...]
    source: str


PROFILES: dict[str, LatencyProfile] = {
    # The CPU pair of the shipped traces (docs/models.md §5): Qwen2.5-Coder-1.5B in bf16 on
    # 2 cores takes 180-208 ms per decode step with a KV cache (208 ms measured at batch 1).
    # Batching independent sequences on a CPU is compute-bound: ASM, each extra sequence adds
    # 60 % of a single step (the vocabulary projection and attention scale with b, weight
    # loading is shared).
    "qwen_coder_1_5b_cpu": LatencyProfile(
        "qwen_coder_1_5b_cpu",
        ((1, 0.208), (2, 0.333), (4, 0.582), (8, 1.082)),
        "docs/models.md §5 (batch 1, measured); batch slope 0.6 x t(1) per item (ASM)",
    ),
    # The papers' Llama-2-7B class verifier on one data-centre GPU (A100 80 GB, fp16). A decode
    # step is memory-bound: 13.5 GB of weights at ~1.6 TB/s effective bandwidth is ~8.4 ms, plus
    # kernel and framework overhead; serving benchmarks of 7B models report ~12-15 ms per step
    # at batch 1 and under 2x that at batch 32. ASM: the table below follows that shape (the
    # papers give no server latency).
    "llama2_7b_a100": LatencyProfile(
        "llama2_7b_a100",
        ((1, 0.013), (8, 0.015), (16, 0.017), (32, 0.021), (64, 0.030), (128, 0.048)),
        "memory-bandwidth arithmetic + typical 7B serving figures (ASM); no paper states it",
    ),
}
