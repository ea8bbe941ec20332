r"""Binned linear fit of rejection probability against uncertainty, as in U-HLM.

``docs/theory.md`` §4: on an all-transmit trace, β ≈ a·u + b. Rows are grouped by u (the K + 1
values of u = u_count/K, or equal-width bins when u is continuous); a weighted least-squares line
through the bin means (weights = rows per bin) gives a and b. Their 95 % intervals use the WLS
covariance s²·(XᵀWX)⁻¹ with s² = Σ n_i r_i² / (m − 2) and t-quantiles with m − 2 degrees of
freedom, so lack of fit widens them. Thresholds: risk-averse u_th = −b/a, risk-prone
u_th = (Δ − b)/a with Δ = share of tokens with q(d) < p(d). :func:`report_markdown` writes the
per-kind table of ``traces/README.md`` (``cuhlm traces report``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from cuhlm_sim.errors import MissingExtraError, TraceError
from cuhlm_sim.traces.inspect import read_trace

#: At most this many distinct u values are used as bins directly.
MAX_DISCRETE_BINS = 101


@dataclass(frozen=True)
class FitResult:
    """β ≈ a·u + b with 95 % intervals, thresholds and the bins used."""

    target: str
    n_tokens: int
    n_bins: int
    a: float
    b: float
    a_ci: tuple[float, float]
    b_ci: tuple[float, float]
    r2: float
    delta: float
    u_th_averse: float
    u_th_prone: float
    skip_rate_averse: float
    skip_rate_prone: float
    bin_u: list[float] = field(default_factory=list)
    bin_y: list[float] = field(default_factory=list)
    bin_n: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def _bins(u: np.ndarray, y: np.ndarray, n_bins: int | None) -> tuple[np.ndarray, ...]:
    """Bin means (u, y) and counts: distinct u values if few, else equal-width bins on [0,1]."""
    uniq = np.unique(u)
    if n_bins is None and len(uniq) <= MAX_DISCRETE_BINS:
        idx = np.searchsorted(uniq, u)
        m = len(uniq)
    else:
        edges = np.linspace(0.0, 1.0, (n_bins or 20) + 1)
        idx = np.clip(np.searchsorted(edges, u, side="right") - 1, 0, len(edges) - 2)
        m = len(edges) - 1
    n = np.bincount(idx, minlength=m)
    keep = n > 0
    su = np.bincount(idx, weights=u, minlength=m)[keep]
    sy = np.bincount(idx, weights=y, minlength=m)[keep]
    n = n[keep]
    return su / n, sy / n, n


def fit_linear(
    u: np.ndarray,
    y: np.ndarray,
    delta: float,
    target: str = "rejected",
    n_bins: int | None = None,
    level: float = 0.95,
) -> FitResult:
    """Weighted LS line through bin means of y against u (see the module docstring)."""
    u = np.asarray(u, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if u.shape != y.shape or u.ndim != 1:
        raise ValueError("u and y must be 1-D arrays of equal length")
    xb, yb, nb = _bins(u, y, n_bins)
    m = len(xb)
    if m < 3:
        raise TraceError(f"fit: need at least 3 distinct uncertainty bins (got {m})")
    w = nb.astype(np.float64)
    X = np.column_stack([xb, np.ones(m)])  # [m, 2]
    xtwx = X.T @ (w[:, None] * X)
    coef = np.linalg.solve(xtwx, X.T @ (w * yb))
    resid = yb - X @ coef
    s2 = float(np.sum(w * resid**2) / (m - 2))
    cov = s2 * np.linalg.inv(xtwx)
    t = float(stats.t.ppf(0.5 + level / 2, m - 2))
    a, b = float(coef[0]), float(coef[1])
    se_a, se_b = float(np.sqrt(cov[0, 0])), float(np.sqrt(cov[1, 1]))
    ybar = float(np.sum(w * yb) / np.sum(w))
    ss_tot = float(np.sum(w * (yb - ybar) ** 2))
    r2 = 1.0 - float(np.sum(w * resid**2)) / ss_tot if ss_tot > 0 else float("nan")
    averse = -b / a if a > 0 else float("nan")
    prone = (delta - b) / a if a > 0 else float("nan")
    return FitResult(
        target=target,
        n_tokens=len(u),
        n_bins=m,
        a=a,
        b=b,
        a_ci=(a - t * se_a, a + t * se_a),
        b_ci=(b - t * se_b, b + t * se_b),
        r2=r2,
        delta=delta,
        u_th_averse=averse,
        u_th_prone=prone,
        skip_rate_averse=float(np.mean(u <= averse)) if np.isfinite(averse) else float("nan"),
        skip_rate_prone=float(np.mean(u <= prone)) if np.isfinite(prone) else float("nan"),
        bin_u=[float(x) for x in xb],
        bin_y=[float(x) for x in yb],
        bin_n=[int(x) for x in nb],
    )


def fit_frame(df: Any, target: str = "rejected", n_bins: int | None = None) -> FitResult:
    """Fit on a trace DataFrame; ``target`` is ``rejected`` (1 − accepted) or ``beta``
    (1 − accept_prob, the expected rejection, less noisy)."""
    if target == "rejected":
        y = 1.0 - df["accepted"].to_numpy(dtype=np.float64)
    elif target == "beta":
        y = 1.0 - df["accept_prob"].to_numpy(dtype=np.float64)
    else:
        raise TraceError(f"--target: must be 'rejected' or 'beta' (got {target!r})")
    delta = float(np.mean(df["q_target"].to_numpy() < df["p_draft"].to_numpy()))
    return fit_linear(df["uncertainty"].to_numpy(), y, delta, target=target, n_bins=n_bins)


def fit_trace(
    path: Path, target: str = "rejected", by_kind: bool = False, n_bins: int | None = None
) -> dict[str, FitResult]:
    """Fit a trace file overall (key ``all``) and, with ``by_kind``, per kind."""
    df, _, _ = read_trace(path)
    out = {"all": fit_frame(df, target, n_bins)}
    if by_kind:
        for kind, sub in df.groupby("kind", sort=True):
            out[str(kind)] = fit_frame(sub, target, n_bins)
    return out


#: File types ``save_plot`` writes (matplotlib picks the format from the suffix).
PLOT_SUFFIXES: tuple[str, ...] = (".png", ".pdf", ".svg")


def save_plot(results: dict[str, FitResult], path: Path) -> Path:
    """Bin means (marker area ∝ rows) and fitted lines, one colour per fit; PNG/PDF by suffix."""
    try:
        import matplotlib
    except ImportError:
        raise MissingExtraError("--plot needs matplotlib: pip install -e '.[plots]'") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    grid = np.linspace(0, 1, 101)
    for i, (name, r) in enumerate(results.items()):
        colour = f"C{i}"
        n = np.asarray(r.bin_n, dtype=float)
        ax.scatter(r.bin_u, r.bin_y, s=10 + 200 * n / n.max(), color=colour, alpha=0.6)
        ax.plot(
            grid,
            r.a * grid + r.b,
            color=colour,
            label=f"{name}: {r.a:.3f}·u {r.b:+.3f} (R²={r.r2:.2f})",
        )
    ax.set_xlabel("uncertainty u")
    ax.set_ylabel("rejection rate" if next(iter(results.values())).target == "rejected" else "β")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def report_markdown(path: Path, target: str = "rejected") -> str:
    """Markdown table for ``traces/README.md``: per kind and overall, α, accept rate, the fit
    β ≈ a·u + b with 95 % CIs, the risk-averse threshold and the skip rate it gives."""
    df, _, _ = read_trace(path)
    overall = fit_frame(df, target)
    pid = "prompt_id" if "prompt_id" in df else "seq_id"
    lines = [
        "| kind | prompts | rows | mean α | accept rate | a [95 % CI] | b [95 % CI] | R² "
        "| u_th averse | skip rate at own u_th | skip rate at overall u_th | Δ |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups = [(str(k), g) for k, g in df.groupby("kind", sort=True)] + [("all", df)]
    for name, g in groups:
        r = overall if name == "all" else fit_frame(g, target)
        skip_all = float(np.mean(g["uncertainty"].to_numpy() <= overall.u_th_averse))
        lines.append(
            f"| {name} | {g[pid].nunique()} | {len(g)} | {g['overlap_alpha'].mean():.3f} "
            f"| {g['accepted'].mean():.3f} "
            f"| {r.a:.3f} [{r.a_ci[0]:.3f}, {r.a_ci[1]:.3f}] "
            f"| {r.b:.3f} [{r.b_ci[0]:.3f}, {r.b_ci[1]:.3f}] | {r.r2:.3f} "
            f"| {r.u_th_averse:.3f} | {r.skip_rate_averse:.3f} | {skip_all:.3f} | {r.delta:.3f} |"
        )
    return "\n".join(lines) + "\n"
