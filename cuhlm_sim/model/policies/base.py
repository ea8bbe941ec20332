"""The policy interface: per trace row, transmit or skip, and what a transmission costs.

A policy sees blocks of trace rows (numpy index arrays), never single tokens, so a new scheme is
one small vectorised class. Subclass :class:`Policy`, implement :meth:`transmit`, put
``@POLICIES.register("name")`` on it (in a module ``policies/__init__.py`` imports) and add
``"name"`` to the ``policy.kind`` choices in ``config/schema.py``.

A policy that decides from the row alone is asked for up to 1,024 rows ahead (the fast path).
One that also needs the device's state (time, SNR, spectral efficiency, GPU queue, energy)
declares ``uses_state = True``: :meth:`transmit` then also gets a
:class:`~cuhlm_sim.model.device_state.DeviceState` and is asked again each time the device
resumes, for the rows up to its next transmitted one (``model/state_device.py``). Either way,
what a *transmitted* row costs and how it is verified (:meth:`payload_bits`, :meth:`accepted`,
:meth:`truncation_k`) stays a function of the row: the token ledger tabulates them per row.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from cuhlm_sim.model.params import PolicyParams
from cuhlm_sim.model.payload import PayloadModel
from cuhlm_sim.model.registry import Registry
from cuhlm_sim.traces.arrays import TraceArrays

if TYPE_CHECKING:
    from cuhlm_sim.model.device_state import DeviceState


class Policy(ABC):
    """Decides whether each drafted token goes to the base station for verification.

    Parameters
    ----------
    params : PolicyParams
        The scenario's ``policy`` section.
    trace : TraceArrays
        The replayed trace; row ``i`` is one drafted token.
    payload : PayloadModel
        Converts truncation sizes into bits.
    """

    #: "hybrid": the SLM drafts every token, the LLM verifies the transmitted ones.
    #: "llm_only": the LLM at the base station generates every token (no SLM, no uplink).
    mode: ClassVar[str] = "hybrid"
    #: False for policies that never draw random numbers: :meth:`transmit` then gets
    #: ``rng=None`` and the device never builds its policy stream (~10 µs a device). Such a
    #: row-only policy must decide the same rows the same way every time: a run decides each
    #: replayed block once and its devices share the plan (``model/blocks.py``).
    uses_rng: ClassVar[bool] = True
    #: True for policies that decide with the device's state as well as the row:
    #: :meth:`transmit` then gets ``state`` and decides the rows up to the next transmitted
    #: one, asked afresh whenever the device resumes. False (the fast path): ``state`` is
    #: never passed and blocks of up to 1,024 rows are decided at once.
    uses_state: ClassVar[bool] = False

    def __init__(self, params: PolicyParams, trace: TraceArrays, payload: PayloadModel) -> None:
        self.params = params
        self.trace = trace
        self.payload = payload

    @abstractmethod
    def transmit(
        self, rows: np.ndarray, rng: np.random.Generator | None, state: DeviceState | None = None
    ) -> np.ndarray:
        """bool [len(rows)]: True = send row's draft for verification, False = skip it.

        ``rng`` is the device's own policy stream (None when ``uses_rng`` is False).
        ``state`` is the deciding device's state, passed only when ``uses_state`` is True (a
        row-only policy may leave the parameter out). A state-aware policy may be asked for
        more rows than it ends up deciding: the device keeps the rows up to the first
        transmitted one and asks again for the rest once that one is verified."""

    def payload_bits(self, rows: np.ndarray) -> np.ndarray:
        """float [len(rows)]: uplink bits if the row is transmitted (default: full vocabulary)."""
        return np.full(rows.shape, self.payload.full_bits)

    def accepted(self, rows: np.ndarray) -> np.ndarray:
        """bool [len(rows)]: whether the LLM accepts the row's draft if it is transmitted."""
        return self.trace.accepted[rows]

    def truncation_k(self, rows: np.ndarray) -> np.ndarray:
        """int [len(rows)]: entries sent per transmission (|V| = whole vocabulary)."""
        return np.full(rows.shape, self.payload.params.vocab_size, dtype=np.int64)

    def output_tv(self) -> np.ndarray | None:
        """float64 [num_rows]: TV distance between the output token's law and the LLM's q if
        the row is transmitted (0: verification against the full draft is exact); None when
        the trace cannot tell (truncation without a ``topk_tv_out`` column)."""
        return np.zeros(self.trace.num_rows)

    def exact_rejection(self) -> np.ndarray:
        """float64 [num_rows]: 1 when the LLM rejects the row's *untruncated* draft (trace
        ``accepted``, the same accept-test uniform the truncated test uses), so the exact and
        the truncated rejection rates are a paired comparison on the same tokens."""
        return (~self.trace.accepted).astype(np.float64)


#: ``policy.kind`` -> policy class (built once per run with the policy params, trace, payload).
POLICIES: Registry[Policy] = Registry("policy")
