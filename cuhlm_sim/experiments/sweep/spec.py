"""The sweep file: a base scenario, fixed overrides, the axes to vary and the repetitions.

:class:`SweepSpec` is the pydantic model of the YAML (or of a scenario's ``sweep:`` block);
:func:`range_values` and :func:`logrange_values` turn its range axes into lists of values.
Expanding the axes into points and runs is :mod:`cuhlm_sim.experiments.sweep.plan`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

#: Most repetitions of a point (sweeps and capacity searches): a 95 % interval narrows as
#: 1/sqrt(n), so 10,000 repetitions already give 2 % of one repetition's spread; a larger
#: number is a typo that would run for days.
MAX_REPETITIONS = 10_000


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RangeAxis(_Spec):
    """``start, start + step, ...`` up to and including ``stop`` (within 1e-9 steps)."""

    start: float
    stop: float
    step: float = Field(gt=0)


class LogRangeAxis(_Spec):
    """``num`` values spaced evenly on a log scale from ``start`` to ``stop`` (both included)."""

    start: float = Field(gt=0)
    stop: float = Field(gt=0)
    num: int = Field(ge=1)
    integer: bool = Field(False, description="Round to integers and drop repeats.")


class SweepSpec(_Spec):
    """A sweep file: base scenario, fixed overrides, axes, repetitions.

    Axes combine as a cartesian product: each ``grid``, ``range`` and ``logrange`` key is one
    dimension; all ``zip`` keys together are one dimension (their lists are walked in step).
    """

    scenario: Path | None = Field(
        None, description="Base scenario, relative to the sweep file (omit with a sweep: block)."
    )
    name: str = ""
    overrides: dict[str, Any] = Field(default_factory=dict, alias="set")
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    zip: dict[str, list[Any]] = Field(default_factory=dict)
    range: dict[str, RangeAxis] = Field(default_factory=dict)
    logrange: dict[str, LogRangeAxis] = Field(default_factory=dict)
    repetitions: int = Field(1, ge=1, le=MAX_REPETITIONS)
    seed: int | None = Field(None, ge=0, description="Base seed; null = the scenario's seed.")


def range_values(axis: RangeAxis) -> list[float | int]:
    """Inclusive arithmetic range; integers stay integers so ``devices.count`` validates."""
    n = math.floor((axis.stop - axis.start) / axis.step + 1e-9) + 1
    values = [axis.start + i * axis.step for i in range(max(n, 0))]
    if all(float(v).is_integer() for v in (axis.start, axis.step)):
        return [round(v) for v in values]
    return [round(v, 12) for v in values]


def logrange_values(axis: LogRangeAxis) -> list[float | int]:
    values = np.geomspace(axis.start, axis.stop, axis.num)
    if axis.integer:
        return list(dict.fromkeys(int(np.rint(v)) for v in values))
    return [float(v) for v in values]
