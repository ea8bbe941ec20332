"""The token-trace contract shared by the generator, the synthetic writer and the simulator.

One Parquet row per generated token position (``docs/models.md`` §9). Column names are a
public contract: users, the generator and the replay code all read them by name. File-level
metadata is a JSON document stored under the Parquet key :data:`METADATA_KEY`.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

#: Parquet key-value metadata key holding the trace's JSON metadata.
METADATA_KEY = b"cuhlm_sim.trace"

#: Columns every trace must have (the simulator refuses a file without them).
REQUIRED_COLUMNS: tuple[str, ...] = (
    "seq_id",
    "pos",
    "kind",
    "draft_token",
    "p_draft",
    "q_target",
    "accept_prob",
    "accepted",
    "uncertainty",
    "entropy",
    "top1_prob",
)

#: Optional scalar columns, with their Arrow type names.
OPTIONAL_COLUMNS: dict[str, str] = {
    "prompt_id": "string",
    "ctx_len": "int32",
    "draft_rank": "int32",
    "overlap_alpha": "float32",
    "entropy_target": "float32",
    "top2_prob": "float32",
    "target_top1": "int32",
    "u_count": "int16",
    "u_expect": "float32",
    "u_accept": "float32",
    "resampled_token": "int32",
    "out_token": "int32",
    "importance": "float32",
    "t_draft_ms": "float32",
    "t_target_ms": "float32",
}

#: Per-k list columns (fixed_size_list<float32>[len(k_grid)]), one entry per ``k_grid`` value.
#: ``topk_mass``: kept mass M_k; ``topk_l1``: ||p - p_hat_k||_1 (CU-HLM distortion numerator);
#: ``topk_accept_prob``: min(1, q(d)/p_hat_k(d)), the acceptance probability under top-k
#: truncation; ``topk_tv_out`` (optional): TV(output law under truncation k, q).
TOPK_COLUMNS: tuple[str, ...] = ("topk_mass", "topk_l1", "topk_accept_prob", "topk_tv_out")

#: Default grid of truncation sizes k (``docs/models.md`` §9: 1, 2, 4, 8, 16, 30, 32, ..., 65536).
DEFAULT_K_GRID: tuple[int, ...] = (1, 2, 4, 8, 16, 30, *(2**i for i in range(5, 17)))

#: The three prompt kinds.
KINDS: tuple[str, ...] = ("code", "prose", "chat")
