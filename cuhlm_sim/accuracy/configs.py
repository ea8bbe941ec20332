"""The configurations of the accuracy run: which policy, threshold, truncation and seed.

Thresholds live on the K grid: U-HLM's u = u_count/K takes only K + 1 values, so a threshold is
stored as the largest count that is still skipped, m = ⌊u_th·K + 1e-9⌋ (the simulator's rule), and
the rule is ``skip iff u_count <= m`` (integers, no float comparison). The threshold a row reports
is the grid value m/K; the value it was derived from is kept in ``threshold_source``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cuhlm_sim.errors import CuhlmError
from cuhlm_sim.traces.grid import threshold_count

#: Policies the closed loop implements (the baselines of the U-HLM / CU-HLM papers).
POLICIES = ("llm_only", "slm_only", "hlm", "uhlm", "cuhlm", "rand_hlm")
#: The U-HLM papers' risk-averse threshold.
PAPER_THRESHOLD = 0.073
#: A large threshold (the U-HLM figure example and the robot-testbed default).
LARGE_THRESHOLD = 0.5
#: CU-HLM's reported offline top-k.
CUHLM_K = 30


class AccuracyError(CuhlmError):
    """A bad option or an inconsistent parts folder of the accuracy run."""


def grid_count(u_th: float, K: int) -> int:
    """Largest skipped u_count for threshold u_th, by the simulator's rule
    (:func:`cuhlm_sim.traces.grid.threshold_count`: u <= u_th on the grid), at least -1."""
    return max(-1, threshold_count(u_th, K))


@dataclass(frozen=True)
class AccConfig:
    """One closed-loop configuration; ``name`` + ``seed`` identify its rows.

    ``skip_count`` (uhlm, cuhlm): skip iff u_count <= skip_count. ``skip_prob_from``
    (rand_hlm): the config whose measured skip rate becomes this one's skip probability.
    ``family`` picks the random stream: LLM-only runs and the draft-based runs draw from
    independent streams, so a hybrid output is never correlated with the LLM reference by
    construction, while the draft-based configs share draws (paired comparisons).
    """

    name: str
    policy: str
    seed: int = 0
    skip_count: int | None = None
    K: int = 20
    truncation_k: int | None = None
    skip_prob_from: str | None = None
    threshold_source: str = ""

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise AccuracyError(f"config {self.name}: unknown policy {self.policy!r}")
        if self.policy in ("uhlm", "cuhlm") and self.skip_count is None:
            raise AccuracyError(f"config {self.name}: {self.policy} needs a threshold")
        if self.policy == "cuhlm" and not self.truncation_k:
            raise AccuracyError(f"config {self.name}: cuhlm needs truncation_k >= 1")
        if self.policy == "rand_hlm" and not self.skip_prob_from:
            raise AccuracyError(f"config {self.name}: rand_hlm needs skip_prob_from")

    @property
    def threshold(self) -> float | None:
        """The grid threshold m/K (None for policies without one)."""
        return None if self.skip_count is None else self.skip_count / self.K

    @property
    def family(self) -> int:
        """Random-stream family: 0 = LLM alone, 1 = runs that draft with the SLM."""
        return 0 if self.policy == "llm_only" else 1

    @property
    def needs_u(self) -> bool:
        return self.policy in ("uhlm", "cuhlm")

    @property
    def key(self) -> str:
        """Unit-file prefix: name and seed."""
        return f"{self.name}__s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["threshold"] = self.threshold
        return d


def averse_threshold(trace: Path) -> float:
    """The pair's risk-averse −b/a from the binned fit of the shipped trace (rejected)."""
    from cuhlm_sim.traces.fit import fit_trace

    return fit_trace(Path(trace), target="rejected")["all"].u_th_averse


def default_configs(averse: float, K: int = 20, truncation_k: int = CUHLM_K) -> list[AccConfig]:
    """The issue-13 set, in run order (Rand-HLM after the U-HLM run it is matched to).

    LLM-only at seeds 0 and 1 (reference and noise floor), SLM-only, HLM (always verify: its
    output law is the LLM's, a check of the whole loop), U-HLM at the pair's risk-averse
    threshold, the papers' 0.073 and 0.5, CU-HLM k=30 at the papers' threshold (so that it
    differs from that U-HLM run only by truncation) and Rand-HLM matched to that U-HLM run.
    """
    m_av, m_paper, m_large = (grid_count(x, K) for x in (averse, PAPER_THRESHOLD, LARGE_THRESHOLD))
    paper = f"uhlm_{m_paper / K:.2f}"
    out = [
        AccConfig("llm_only", "llm_only", seed=0, K=K, threshold_source="LLM reference"),
        AccConfig("llm_only", "llm_only", seed=1, K=K, threshold_source="noise floor"),
        AccConfig("slm_only", "slm_only", K=K),
        AccConfig("hlm", "hlm", K=K),
        AccConfig(
            f"uhlm_{m_av / K:.2f}",
            "uhlm",
            skip_count=m_av,
            K=K,
            threshold_source=f"risk-averse -b/a = {averse:.4f} of the trace fit",
        ),
        AccConfig(
            paper,
            "uhlm",
            skip_count=m_paper,
            K=K,
            threshold_source=f"papers' risk-averse {PAPER_THRESHOLD}",
        ),
        AccConfig(
            f"uhlm_{m_large / K:.2f}",
            "uhlm",
            skip_count=m_large,
            K=K,
            threshold_source=f"large ({LARGE_THRESHOLD})",
        ),
        AccConfig(
            f"cuhlm_k{truncation_k}_{m_paper / K:.2f}",
            "cuhlm",
            skip_count=m_paper,
            K=K,
            truncation_k=truncation_k,
            threshold_source=f"papers' risk-averse {PAPER_THRESHOLD}",
        ),
        AccConfig(
            "rand_hlm",
            "rand_hlm",
            K=K,
            skip_prob_from=paper,
            threshold_source=f"skip probability = measured skip rate of {paper}",
        ),
    ]
    names = [c.key for c in out]
    if len(set(names)) != len(names):  # e.g. the averse threshold rounds onto 0.073's grid value
        raise AccuracyError(f"configurations collide on the K = {K} grid: {names}")
    return out


def select(configs: list[AccConfig], names: list[str] | None) -> list[AccConfig]:
    """Keep the named configs (``name`` or ``name@seed``), plus the U-HLM run Rand-HLM needs."""
    if not names:
        return configs
    known = {c.name for c in configs} | {f"{c.name}@{c.seed}" for c in configs}
    bad = [n for n in names if n not in known]
    if bad:
        raise AccuracyError(f"--configs: unknown {bad[0]!r} (choose from {sorted(known)})")
    want = set(names)
    keep = {c.key for c in configs if c.name in want or f"{c.name}@{c.seed}" in want}
    for c in configs:
        if c.key in keep and c.skip_prob_from:
            keep |= {x.key for x in configs if x.name == c.skip_prob_from}
    if not any(c.key == "llm_only__s0" for c in configs if c.key in keep):
        keep.add("llm_only__s0")  # the reference every score needs
    return [c for c in configs if c.key in keep]
