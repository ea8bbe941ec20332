"""Batched incremental decoding, shared by the trace generator and the closed-loop accuracy run.

Several prompts decode in lockstep. They are left-padded into one token buffer with an attention
mask (:class:`TokenBuffer`); each model keeps one KV cache whose rows are the sequences
(:class:`CachedLM`) and is fed the buffer columns it has not seen yet, with position ids counted
over each sequence's real tokens, so a padded sequence attends to exactly the tokens and
positions it would have alone. Padding changes floating-point rounding only (sums over longer,
zero-padded rows), never which tokens a sequence sees. A finished sequence can leave the batch
(:meth:`TokenBuffer.select`, :meth:`CachedLM.select`) so it costs nothing afterwards.

Everything lives on the buffer's device: the same code runs on CPU, CUDA and MPS. torch is
imported inside the functions so the package imports without it.
"""

from __future__ import annotations

from typing import Any


class TokenBuffer:
    """Token ids and attention mask of a left-padded batch, ``[B, P + max_new]`` each.

    Column ``P + t`` holds each sequence's t-th new token once it is known (mask 1); columns of
    padding and of sequences that already stopped keep ``pad_id`` with mask 0.
    """

    def __init__(
        self, prompts: list[list[int]], pad_id: int, max_new: int, device: Any = "cpu"
    ) -> None:
        import torch

        B, P = len(prompts), max(len(p) for p in prompts)
        self.prompt_len = P
        self.ids = torch.full((B, P + max_new), pad_id, dtype=torch.long)
        self.mask = torch.zeros((B, P + max_new), dtype=torch.long)
        for i, p in enumerate(prompts):  # left padding
            self.ids[i, P - len(p) : P] = torch.tensor(p, dtype=torch.long)
            self.mask[i, P - len(p) : P] = 1
        self.ids, self.mask = self.ids.to(device), self.mask.to(device)

    def put(self, col: int, tokens: Any, rows: Any = None) -> None:
        """Write ``tokens`` (one per row of ``rows``, default all) into column ``col``."""
        import torch

        rows = slice(None) if rows is None else rows
        self.ids[rows, col] = torch.as_tensor(tokens, dtype=torch.long, device=self.ids.device)
        self.mask[rows, col] = 1

    def select(self, rows: Any) -> None:
        """Keep only ``rows`` (a LongTensor of row indices), in that order."""
        self.ids, self.mask = self.ids[rows], self.mask[rows]


class CachedLM:
    """One causal LM over a :class:`TokenBuffer`: its KV cache, and the columns fed so far.

    ``head`` turns a hidden state into float32 logits (:class:`~cuhlm_sim.traces.token_stats.
    _Head`); ``model`` is the ``*ForCausalLM`` whose ``.model`` is the decoder stack.
    """

    def __init__(self, model: Any, head: Any, buf: TokenBuffer) -> None:
        self.model, self.head, self.buf = model, head, buf
        self.cache: Any = None
        self.fed = 0

    def forward(self, upto: int, **kwargs: Any) -> Any:
        """Feed columns [fed, upto) of every sequence; returns the decoder's raw output.

        ``kwargs`` go to the decoder (``output_hidden_states=True`` for an early-exit draft,
        ``output_attentions=True`` for attention importance, which needs eager attention).
        """
        import torch

        mask = self.buf.mask[:, :upto]
        pos = (torch.cumsum(mask, 1) - 1).clamp(min=0)[:, self.fed : upto]
        with torch.inference_mode():
            out = self.model.model(
                input_ids=self.buf.ids[:, self.fed : upto],
                attention_mask=mask,
                position_ids=pos,
                past_key_values=self.cache,
                use_cache=True,
                **kwargs,
            )
        self.cache = out.past_key_values
        self.fed = upto
        return out

    def advance(self, upto: int) -> Any:
        """Feed columns [fed, upto); logits [B, V] float32 at column ``upto - 1``."""
        import torch

        out = self.forward(upto)
        with torch.inference_mode():
            return self.head(out.last_hidden_state[:, -1])

    def rollback(self, n: int) -> None:
        """Forget the last ``n`` fed columns (``cache.crop(-n)``: 4.57 and 5.x accept it)."""
        if n > 0:
            self.cache.crop(-n)
            self.fed -= n

    def select(self, rows: Any) -> None:
        """Keep only the cache rows ``rows`` (call :meth:`TokenBuffer.select` once as well)."""
        if self.cache is not None:
            self.cache.batch_select_indices(rows)
