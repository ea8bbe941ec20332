"""Fixtures for the trace-generator tests: a tiny random Qwen2 pair built locally (no hub)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

WORDS = (
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "it",
    "that",
    "for",
    "on",
    "with",
    "as",
    "was",
    "def",
    "return",
    "if",
    "else",
    "for",
    "while",
    "import",
    "print",
    "self",
    "x",
    "y",
    "n",
    "i",
    "value",
    "list",
    "dict",
    "sum",
    "max",
    "min",
    "range",
    "len",
    "true",
    "false",
    "none",
    "class",
    "sky",
    "blue",
    "water",
    "sun",
    "rain",
    "code",
    "python",
    "function",
    "number",
    "string",
    "one",
    "two",
    "three",
    "why",
    "how",
    "what",
    "explain",
)
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_pair(root: Path) -> tuple[Path, Path, Path]:
    """Save a WordLevel tokenizer and two differently seeded 2-layer Qwen2 models."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    specials = ["[UNK]", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {t: i for i, t in enumerate(specials + sorted(set(WORDS)))}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        unk_token="[UNK]",
        eos_token="<|im_end|>",
        bos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    tok.chat_template = CHATML
    tok_dir = root / "tokenizer"
    tok.save_pretrained(tok_dir)
    dirs = []
    for name, seed, layers in (("draft", 1, 2), ("target", 2, 3)):
        torch.manual_seed(seed)
        cfg = Qwen2Config(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=layers,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=1024,
            initializer_range=0.3,  # peaked, varied distributions instead of near-uniform
            tie_word_embeddings=False,
            bos_token_id=vocab["<|endoftext|>"],
            eos_token_id=vocab["<|im_end|>"],
        )
        model = Qwen2ForCausalLM(cfg)
        d = root / name
        model.save_pretrained(d)
        dirs.append(d)
    return dirs[0], dirs[1], tok_dir


@pytest.fixture(scope="session")
def tiny_pair_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return build_tiny_pair(tmp_path_factory.mktemp("tiny_pair"))


@pytest.fixture(scope="session")
def tiny_pair(tiny_pair_dirs: tuple[Path, Path, Path]) -> Any:
    from cuhlm_sim.traces.models import load_local_pair

    return load_local_pair(*tiny_pair_dirs)
