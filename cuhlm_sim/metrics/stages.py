"""The stages of a token's latency, in the order a verified token passes them.

A skipped token spends its whole latency in :attr:`Stage.SLM`. The recorder sums each stage
over in-window verified tokens (``Recorder.stage_sums[stage]``); the summary's
``latency_breakdown_s`` and ``verified_latency_breakdown_s``, the token log and the latency
figure name them by :attr:`Stage.key`.
"""

from __future__ import annotations

from enum import IntEnum


class Stage(IntEnum):
    SLM = 0  # drafting on the device (τ)
    UPLINK_QUEUE = 1  # waiting for the first uplink resource
    AIRTIME = 2  # on the air
    GPU_QUEUE = 3  # waiting for a GPU at the base station
    GPU_SERVICE = 4  # in a verification batch
    DOWNLINK = 5  # the verdict on its way back

    @property
    def key(self) -> str:
        """Its name in summary.json and tokens.parquet: ``slm_s``, ``uplink_queue_s``, ..."""
        return f"{self.name.lower()}_s"
