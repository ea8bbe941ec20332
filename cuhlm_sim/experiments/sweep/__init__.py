"""Parameter sweeps: expand a sweep file into runs, execute them resumably, aggregate.

A sweep file names a base scenario and the parameters to vary by their dotted keys. The parts,
each in its own module:

- :mod:`~cuhlm_sim.experiments.sweep.spec`: the sweep file's model (:class:`SweepSpec`, axes);
- :mod:`~cuhlm_sim.experiments.sweep.plan`: every point and repetition with its seed and
  run key (:func:`load_sweep`, :func:`plan_sweep`), validated before anything runs;
- :mod:`~cuhlm_sim.experiments.sweep.store`: one JSON record per run in ``DIR/runs/``
  (written atomically, so a rerun skips every stored run and an interrupted sweep resumes),
  and ``runs.parquet``, ``points.parquet`` (mean, standard deviation and Student-t 95 % CI
  half-width per point) and ``sweep.json`` (axes, points, seeds) for the plots;
- :mod:`~cuhlm_sim.experiments.sweep.runner`: the worker function and the driver
  (:func:`run_sweep`) on any executor of :mod:`cuhlm_sim.experiments.executors`.

This package re-exports the names callers use.
"""

from cuhlm_sim.experiments.sweep.plan import (
    SWEEP_DEFAULTS,
    RunTask,
    SweepPlan,
    derived_seeds,
    load_sweep,
    plan_sweep,
    run_key,
    with_sweep_defaults,
)
from cuhlm_sim.experiments.sweep.runner import (
    SweepResult,
    cached_trace,
    execute_run,
    run_sweep,
    run_tasks,
)
from cuhlm_sim.experiments.sweep.spec import (
    LogRangeAxis,
    RangeAxis,
    SweepSpec,
    logrange_values,
    range_values,
)
from cuhlm_sim.experiments.sweep.store import RunStore, runs_frame

__all__ = [
    "SWEEP_DEFAULTS",
    "LogRangeAxis",
    "RangeAxis",
    "RunStore",
    "RunTask",
    "SweepPlan",
    "SweepResult",
    "SweepSpec",
    "cached_trace",
    "derived_seeds",
    "execute_run",
    "load_sweep",
    "logrange_values",
    "plan_sweep",
    "range_values",
    "run_key",
    "run_sweep",
    "run_tasks",
    "runs_frame",
    "with_sweep_defaults",
]
