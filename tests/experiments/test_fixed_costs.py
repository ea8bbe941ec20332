"""What a sweep or capacity search pays once, not per run: start-up imports, the trace, the
prompt draw of each seed (issue 16, item 5). Counted with patched loaders, never timed."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from cuhlm_sim.experiments.results import ci95_half_width, t975


def test_t_quantile_matches_closed_forms_and_scipy_stats():
    """t_{0.975,1} = tan(0.475 π) and t_{0.975,2} = (2p - 1) sqrt(2 / (4 p (1 - p))) with
    p = 0.975 (Student's t with 1 and 2 degrees of freedom have closed-form quantiles); every
    degree of freedom gives exactly what scipy.stats.t.ppf gives (the function used before)."""
    from scipy import stats

    p = 0.975
    assert t975(1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-13)
    assert t975(2) == pytest.approx((2 * p - 1) * math.sqrt(2 / (4 * p * (1 - p))), rel=1e-13)
    for dof in range(1, 300):
        assert t975(dof) == float(stats.t.ppf(p, dof))  # bit for bit
    x = np.array([10.0, 12.0, 11.0, 15.0])  # s = sqrt(14/3), n = 4: t_{.975,3} = 3.18245
    assert ci95_half_width(x) == pytest.approx(3.1824463052837078 * math.sqrt(14 / 3) / 2)
    assert math.isnan(ci95_half_width(np.array([1.0, math.nan])))


def test_a_capacity_search_never_imports_scipy_stats():
    """scipy.stats costs about a second of start-up in every process that imports it; the CLI,
    a run and the search's confidence intervals need none of it."""
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import cuhlm_sim.cli, cuhlm_sim.runner, cuhlm_sim.experiments.capacity\n"
        "from cuhlm_sim.experiments.results import ci95_half_width\n"
        "assert ci95_half_width(np.array([1.0, 2.0, 4.0])) > 0\n"
        "from cuhlm_sim.config.schema import Scenario\n"
        "from cuhlm_sim.experiments.capacity import find_capacity, parse_slo\n"
        "base = Scenario.model_validate({'duration_s': 2.0, 'warmup_s': 0.5,\n"
        "    'trace': {'path': None, 'synth_rows': 500}})\n"
        "find_capacity(base, [parse_slo('p95_token_latency_s<=100')], repetitions=2,\n"
        "    max_devices=2)\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('scipy.stats'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
