"""The random streams of trace generation: each prompt draws from its own numpy stream, a fixed
number of uniforms per position, so a prompt's rows do not depend on which other prompts ran
or shared its batch. Shared by the generator, the trace metadata and the accuracy decoder."""

from __future__ import annotations

import hashlib

import numpy as np

#: Spawn-key namespace of the per-prompt token streams (prompt selection uses 1..3).
TOKEN_STREAM = 100


def token_stream(seed: int, prompt_id: str) -> np.random.Generator:
    """The prompt's own stream: SeedSequence(seed, spawn_key=(100, sha256(prompt_id)[:4]))."""
    key = int.from_bytes(hashlib.sha256(prompt_id.encode()).digest()[:4], "big")
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(TOKEN_STREAM, key)))


def uniforms_per_position(K: int) -> int:
    """Layout: [draft, K temperatures, K draws, accept test, resample] = 2K + 3 uniforms."""
    return 2 * K + 3
