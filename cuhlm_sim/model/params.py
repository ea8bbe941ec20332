"""Frozen, SI-unit parameters of one simulation run (built from a scenario by config.build)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DeviceParams:
    count: int
    slm_latency_s: float
    uncertainty_latency_s: float
    tokens_per_request: int
    think_time_s: float
    think_time_dist: str  # "exponential" | "fixed"
    start_spread_s: float = 0.0
    arrival: str = "closed"  # "closed" | "poisson"
    arrival_rate_per_s: float = 1.0

    @property
    def token_time_s(self) -> float:
        """Device time per drafted token (draft + uncertainty estimate)."""
        return self.slm_latency_s + self.uncertainty_latency_s


@dataclass(frozen=True, slots=True)
class ChannelParams:
    model: str  # "fixed" | "per_device" | "pathloss"
    snr_db: float
    snr_db_list: tuple[float, ...] | None = None
    spread: str = "none"  # "none" | "uniform" | "normal"
    spread_db: float = 0.0
    pathloss_model: str = "uma"
    carrier_ghz: float = 3.5
    cell_radius_m: float = 300.0
    min_distance_m: float = 35.0
    bs_height_m: float | None = None
    ut_height_m: float = 1.5
    pathloss_exponent: float = 3.5
    reference_distance_m: float = 1.0
    shadowing: bool = True
    shadowing_std_db: float = 8.0
    tx_power_dbm: float = 23.0
    noise_figure_db: float = 5.0
    fading: str = "none"
    rician_k_db: float = 3.0
    coherence_time_s: float = 0.05
    mobility: str = "static"
    speed_min_mps: float = 0.5
    speed_max_mps: float = 1.5
    pause_s: float = 0.0
    mobility_update_s: float = 1.0
    rate_model: str = "shannon"
    snr_gap_db: float = 0.0
    max_spectral_efficiency: float | None = None
    harq_bler: float = 0.0


@dataclass(frozen=True, slots=True)
class UplinkParams:
    bandwidth_hz: float
    scheduler: str
    numerology: int = 0
    num_rb: int | None = None
    pf_window_slots: float = 100.0
    power_model: str = "constant_psd"  # "constant_psd" | "full_power"


@dataclass(frozen=True, slots=True)
class ServerParams:
    gpus: int
    llm_latency_s: float
    max_batch: int
    batch_per_item_s: float
    max_wait_s: float
    downlink_latency_s: float
    latency_model: str = "affine"  # "affine" | "table"
    latency_table: tuple[tuple[int, float], ...] | None = None
    discipline: str = "fifo"  # "fifo" | "priority_uncertainty" | "priority_importance"


@dataclass(frozen=True, slots=True)
class PolicyParams:
    kind: str
    threshold: float
    truncation_k: int | None
    tv_budget: float | None
    rejection_a: float
    rejection_b: float
    skip_probability: float | None
    importance_threshold: float = 0.2
    importance_rule: str = "and"
    importance_weight: float = 0.5
    importance_source: str = "trace"
    importance_beta: tuple[float, float] = (2.0, 5.0)


@dataclass(frozen=True, slots=True)
class PayloadParams:
    prob_bits: int
    encoding: str  # "indexed" | "dense"
    vocab_size: int
    overhead_bits: int


@dataclass(frozen=True, slots=True)
class EnergyParams:
    device_compute_w: float = 5.0
    device_wait_w: float = 0.0
    tx_power_w: float = 0.2
    tx_circuit_w: float = 0.1
    gpu_busy_w: float = 300.0
    gpu_idle_w: float = 0.0


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
    energy: EnergyParams = EnergyParams()
    log_tokens: bool = False

    @property
    def end_s(self) -> float:
        return self.warmup_s + self.duration_s
