"""Frozen, SI-unit parameters of one simulation run, built from a scenario by config.build.

Each class has the keys of one schema model (``config/schema.py``), one class per kind where
the schema has one model per kind. No field has a default: every value comes from the schema,
the one place defaults are written (``tests/unit/test_config_params.py`` checks the keys match).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DeviceParams:
    count: int
    slm_latency_s: float
    uncertainty_latency_s: float
    slm_latency_dist: str  # LATENCY_DISTS kind
    slm_latency_cv: float
    tokens_per_request: int | None  # None: the whole sequence
    think_time_s: float
    think_time_dist: str  # "exponential" | "fixed"
    arrival: str  # "closed" | "poisson_requests" | "poisson"
    request_rate_per_s: float
    arrival_rate_per_s: float
    start_spread_s: float

    @property
    def token_time_s(self) -> float:
        """Device time per drafted token (draft + uncertainty estimate)."""
        return self.slm_latency_s + self.uncertainty_latency_s


# --- channel: CHANNELS[model], RATE_MAPS[rate_model] -----------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelParams:
    """What every channel model has: how its SNR maps to a rate."""

    model: str  # "fixed" | "per_device" | "pathloss"
    rate_model: str  # "shannon" | "cqi"
    snr_gap_db: float
    max_spectral_efficiency: float | None
    harq_bler: float


@dataclass(frozen=True, slots=True)
class FixedChannelParams(ChannelParams):
    snr_db: float


@dataclass(frozen=True, slots=True)
class PerDeviceChannelParams(ChannelParams):
    snr_db: float
    snr_db_list: tuple[float, ...] | None
    spread: str  # "none" | "uniform" | "normal"
    spread_db: float


@dataclass(frozen=True, slots=True)
class PathlossChannelParams(ChannelParams):
    pathloss_model: str  # "uma" | "umi" | "log_distance"
    carrier_ghz: float
    cell_radius_m: float
    min_distance_m: float
    bs_height_m: float | None
    ut_height_m: float
    pathloss_exponent: float
    reference_distance_m: float
    shadowing: bool
    shadowing_std_db: float
    tx_power_dbm: float
    noise_figure_db: float
    fading: str  # FADING kind
    rician_k_db: float
    coherence_time_s: float
    mobility: str  # MOBILITY kind
    speed_min_mps: float
    speed_max_mps: float
    pause_s: float
    mobility_update_s: float


# --- uplink: UPLINKS[scheduler] --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UplinkParams:
    scheduler: str
    bandwidth_hz: float
    power_model: str  # "constant_psd" | "full_power"


@dataclass(frozen=True, slots=True)
class SlottedUplinkParams(UplinkParams):
    numerology: int
    num_rb: int | None


@dataclass(frozen=True, slots=True)
class ProportionalFairUplinkParams(SlottedUplinkParams):
    pf_window_slots: float


# --- server: BATCH_LATENCIES[latency_model], DISCIPLINES[discipline] --------------------------


@dataclass(frozen=True, slots=True)
class ServerParams:
    latency_model: str  # "affine" | "table"
    gpus: int
    max_batch: int
    max_wait_s: float
    llm_latency_dist: str  # LATENCY_DISTS kind
    llm_latency_cv: float
    discipline: str
    downlink_latency_s: float  # the scenario's downlink.latency_s


@dataclass(frozen=True, slots=True)
class AffineServerParams(ServerParams):
    llm_latency_s: float
    batch_per_item_s: float


@dataclass(frozen=True, slots=True)
class TableServerParams(ServerParams):
    latency_table: tuple[tuple[int, float], ...]  # the given table or the profile's


# --- policy: POLICIES[kind] ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyParams:
    kind: str
    threshold: float
    rejection_a: float
    rejection_b: float
    importance_source: str  # "trace" | "synthetic" (also for the priority_importance queue)
    importance_beta: tuple[float, float]


@dataclass(frozen=True, slots=True)
class CuhlmPolicyParams(PolicyParams):
    truncation_k: int | None
    tv_budget: float | None


@dataclass(frozen=True, slots=True)
class IhlmPolicyParams(PolicyParams):
    importance_rule: str  # "and" | "weighted"
    importance_threshold: float
    importance_weight: float


@dataclass(frozen=True, slots=True)
class RandomSkipPolicyParams(PolicyParams):
    skip_probability: float | None


@dataclass(frozen=True, slots=True)
class UhlmAdaptivePolicyParams(PolicyParams):
    eta_ref: float  # [bit/s/Hz] spectral efficiency at which u_th = threshold
    threshold_slope: float  # u_th added per bit/s/Hz below eta_ref
    threshold_min: float
    threshold_max: float


# --- the rest --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PayloadParams:
    prob_bits: int
    encoding: str  # "indexed" | "dense"
    vocab_size: int  # the scenario's, or the trace's
    overhead_bits: int


@dataclass(frozen=True, slots=True)
class EnergyParams:
    device_compute_w: float
    device_wait_w: float
    tx_power_w: float
    tx_circuit_w: float
    gpu_busy_w: float
    gpu_idle_w: float


@dataclass(frozen=True, slots=True)
class SimParams:
    seed: int
    duration_s: float
    warmup_s: float
    devices: DeviceParams
    channel: ChannelParams
    uplink: UplinkParams
    server: ServerParams
    policy: PolicyParams
    payload: PayloadParams
    energy: EnergyParams
    log_tokens: bool

    @property
    def end_s(self) -> float:
        return self.warmup_s + self.duration_s
