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
    """Save a WordLevel tokenizer and two differently seeded Qwen2 models (2 and 3 layers),
    each model folder with the tokenizer in it; returns (draft, target, tokenizer) folders."""
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
        tok.save_pretrained(d)  # a model folder as users have them: weights + tokenizer
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

    return load_local_pair(tiny_pair_dirs[0], tiny_pair_dirs[1])


BPE_TEXT = (
    "the sky is blue and the water is blue",
    "def f(x): return x + 1",
    "why is the sun hot and the rain cold",
    "explain how a list and a dict differ in python",
)


def _bpe_tokenizer() -> Any:
    """A byte-level BPE tokenizer (the kind a GGUF file can describe), trained on a few lines."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(list(BPE_TEXT) * 10, trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        eos_token="<|im_end|>",
        bos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    tok.chat_template = CHATML
    return tok


def write_gguf(model: Any, tok: Any, path: Path) -> None:
    """Write a Qwen2 model and its byte-level BPE tokenizer as an F32 GGUF file, with
    llama.cpp's key and tensor names (the gguf package's own name map)."""
    import json

    import gguf

    cfg = model.config
    w = gguf.GGUFWriter(str(path), "qwen2")
    w.add_name(path.stem)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_freq_base(float(cfg.rope_parameters["rope_theta"]))
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    tokens = [""] * len(tok)
    for t, i in tok.get_vocab().items():
        tokens[i] = t
    special = set(tok.all_special_tokens)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(
        [gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens]
    )
    merges = json.loads(tok.backend_tokenizer.to_str())["model"]["merges"]
    w.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in merges])
    w.add_bos_token_id(tok.bos_token_id)
    w.add_eos_token_id(tok.eos_token_id)
    w.add_pad_token_id(tok.pad_token_id)
    w.add_chat_template(tok.chat_template)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, cfg.num_hidden_layers)
    for name, p in model.state_dict().items():
        w.add_tensor(names.get_name(name, try_suffixes=(".weight", ".bias")), p.float().numpy())
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def build_bpe_pair(root: Path) -> dict[str, Path]:
    """A tiny Qwen2 draft (2 layers) and target (3 layers) with a byte-level BPE tokenizer,
    each saved twice: as a transformers folder and as a GGUF file. Keys: draft_dir, target_dir,
    draft_gguf, target_gguf."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = _bpe_tokenizer()
    out: dict[str, Path] = {}
    for name, seed, layers in (("draft", 11, 2), ("target", 12, 3)):
        torch.manual_seed(seed)
        cfg = Qwen2Config(
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=layers,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=1024,
            initializer_range=0.3,
            tie_word_embeddings=False,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
        )
        model = Qwen2ForCausalLM(cfg).eval()
        d = root / f"{name}-folder"
        model.save_pretrained(d)
        tok.save_pretrained(d)
        out[f"{name}_dir"] = d
        out[f"{name}_gguf"] = root / f"tiny-{name}.gguf"
        write_gguf(model, tok, out[f"{name}_gguf"])
    return out


@pytest.fixture(scope="session")
def bpe_pair(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("torch")
    pytest.importorskip("gguf")
    return build_bpe_pair(tmp_path_factory.mktemp("bpe_pair"))


def write_prompts(path: Path, n: int = 6, seed: int = 0, words: tuple[str, ...] = WORDS) -> Path:
    """A ``--prompts`` JSONL file of ``n`` prompts of different lengths, kinds in turn, every
    third one with the chat template."""
    import json

    import numpy as np

    rng = np.random.default_rng(seed)
    kinds = ("code", "prose", "chat")
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            text = " ".join(rng.choice(words, int(rng.integers(2, 30))))
            line = {"id": f"p{i}", "kind": kinds[i % 3], "text": text}
            if i % 3 == 2:
                line["chat_template"] = True
            f.write(json.dumps(line) + "\n")
    return path
