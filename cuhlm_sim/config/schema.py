"""The scenario schema: every key, its type, unit, default and bounds.

This is the single source of defaults: the model's parameter objects are built from it
(``config/build.py``) without restating one. Every model forbids unknown keys, so a typo in a
YAML file is an error rather than a silently ignored setting. Units are in the key names (``_s``
seconds, ``_hz`` hertz, ``_db`` decibels, ``_bits``).

A section whose keys depend on a kind is one model per kind, chosen by a discriminator key
(``by_kind``: ``channel.model``, ``uplink.scheduler``, ``server.latency_model``,
``policy.kind``), so a ``pathloss`` channel has no ``snr_db``; a key that matters for only some
values of another key of its model is marked ``When`` (``rician_k_db`` for ``fading: rician``).
``config/kinds.py`` says what happens to a key of another kind.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from cuhlm_sim.config.kinds import SchemaModel, When, by_kind


class DevicesConfig(SchemaModel):
    """The mobile devices, each running the SLM."""

    count: int = Field(1, ge=1, description="Number of devices in the cell.")
    slm_latency_s: float = Field(
        0.082,
        gt=0,
        description="Device time to draft one token and estimate its uncertainty [s] "
        "(82 ms: Qwen2.5-Coder-0.5B bf16 on 2 CPU cores, docs/models.md §5).",
    )
    uncertainty_latency_s: float = Field(
        0.0,
        ge=0,
        description="Extra time for the uncertainty estimate [s]; 0 = overlapped with the draft "
        "(U-HLM's assumption).",
    )
    slm_latency_dist: Literal["fixed", "lognormal", "trace"] = Field(
        "lognormal",
        description="Distribution of each token's drafting time; its mean is always "
        "slm_latency_s. `fixed`: every token takes slm_latency_s (the deterministic cell). "
        "`lognormal`: one draw per token from the device's own stream, coefficient of variation "
        "slm_latency_cv. `trace`: the replayed row's recorded t_draft_ms, scaled so the trace's "
        "mean equals slm_latency_s (the recorded times are CPU times; the scale maps them to the "
        "device the scenario assumes).",
    )
    slm_latency_cv: Annotated[float, When("slm_latency_dist", "lognormal")] = Field(
        0.25,
        ge=0,
        le=5,
        description="Coefficient of variation of the lognormal drafting time (0.25: the "
        "recorded t_draft_ms of the shipped trace has cv 0.26; ASM for a phone).",
    )
    tokens_per_request: int | None = Field(
        None,
        ge=1,
        description="A request replays one whole trace sequence from its first token; a "
        "number cuts it after that many tokens. null = the whole sequence.",
    )
    think_time_s: float = Field(
        0.0, ge=0, description="Mean idle gap between requests [s]; 0 = back to back."
    )
    think_time_dist: Literal["exponential", "fixed"] = Field(
        "exponential", description="Distribution of the idle gap between requests."
    )
    arrival: Literal["closed", "poisson_requests", "poisson"] = Field(
        "closed",
        description="`closed`: a device drafts its next token only after the previous one "
        "is final (real HLM), and starts its next request a think time after the last one "
        "ended. `poisson_requests`: open loop in requests; requests arrive at each device as a "
        "Poisson stream at `request_rate_per_s` and wait in the device's FIFO queue while it "
        "serves an earlier one (think time unused). `poisson`: an open-loop validation "
        "workload in tokens; each device emits tokens as a Poisson stream at "
        "`arrival_rate_per_s`, drafting is a pure delay and tokens do not wait for each other.",
    )
    request_rate_per_s: Annotated[float, When("arrival", "poisson_requests")] = Field(
        0.02, gt=0, description="Request rate per device in `poisson_requests` mode [1/s]."
    )
    arrival_rate_per_s: float = Field(
        1.0, gt=0, description="Token rate per device in `poisson` arrival mode [1/s]."
    )
    start_spread_s: float = Field(
        0.0,
        ge=0,
        description="Each device starts at a uniform random time in [0, start_spread_s) [s]; "
        "0 = all start together (they may then stay in lock-step under equal sharing).",
    )


# --- channel ---------------------------------------------------------------------------------


class _RateMap(SchemaModel):
    """SNR to rate, the same for every channel model."""

    rate_model: Literal["shannon", "cqi"] = Field(
        "shannon",
        description="`shannon`: eta = min(log2(1 + SNR/gap), max_spectral_efficiency). `cqi`: "
        "TS 38.214 Table 5.2.2.1-2 efficiency of the CQI the SNR supports.",
    )
    snr_gap_db: Annotated[float, When("rate_model", "shannon")] = Field(
        0.0, ge=0, description="SNR gap Γ [dB]."
    )
    max_spectral_efficiency: Annotated[float | None, When("rate_model", "shannon")] = Field(
        None, gt=0, description="Cap on eta [bit/s/Hz]; null = none."
    )
    harq_bler: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Block error rate target; HARQ retransmissions scale the goodput by "
        "(1 - BLER).",
    )


class _BandSnr(SchemaModel):
    snr_db: float = Field(
        17.0,
        ge=-50,
        le=80,
        description="Uplink SNR [dB] (17 dB: DuoDecoding's P=0.5 W, g=1e-8, N=1e-10 W).",
    )


class FixedChannelConfig(_RateMap, _BandSnr):
    """Every device has ``snr_db``."""

    model: Literal["fixed"] = "fixed"


class PerDeviceChannelConfig(_RateMap, _BandSnr):
    """One SNR per device: listed, or drawn once around ``snr_db``."""

    model: Literal["per_device"] = "per_device"
    snr_db_list: list[float] | None = Field(
        None, description="One SNR per device [dB] (length = devices.count)."
    )
    spread: Literal["none", "uniform", "normal"] = Field(
        "none",
        description="Without a list: SNR ~ U(snr_db ± spread_db) or N(snr_db, spread_db²) [dB].",
    )
    spread_db: Annotated[float, When("spread", "uniform", "normal")] = Field(
        0.0, ge=0, description="Width of the per-device SNR spread [dB]."
    )


class PathlossChannelConfig(_RateMap):
    """Devices dropped in a cell: SNR from transmit power, path loss, shadowing, block fading
    and thermal noise."""

    model: Literal["pathloss"] = "pathloss"
    pathloss_model: Literal["uma", "umi", "log_distance"] = Field(
        "uma", description="TR 38.901 UMa / UMi street canyon, or log-distance."
    )
    carrier_ghz: float = Field(3.5, gt=0, description="Carrier frequency f_c [GHz].")
    cell_radius_m: float = Field(300.0, gt=0, description="Devices dropped within [m].")
    min_distance_m: float = Field(
        35.0, ge=0, description="Minimum BS-device ground distance [m] (TR 38.901: 35 m UMa)."
    )
    bs_height_m: float | None = Field(
        None, gt=0, description="BS height [m]; null = 25 (UMa) / 10 (UMi), TR 38.901."
    )
    ut_height_m: float = Field(1.5, gt=0, description="Device height [m].")
    pathloss_exponent: Annotated[float, When("pathloss_model", "log_distance")] = Field(
        3.5, gt=0, description="Path-loss exponent n."
    )
    reference_distance_m: Annotated[float, When("pathloss_model", "log_distance")] = Field(
        1.0, gt=0, description="d_0 [m]."
    )
    shadowing: bool = Field(True, description="Log-normal shadowing on (per device).")
    shadowing_std_db: Annotated[float, When("pathloss_model", "log_distance")] = Field(
        8.0, ge=0, description="Shadowing sigma [dB] (the 38.901 kinds use its table)."
    )
    tx_power_dbm: float = Field(23.0, description="Device transmit power [dBm].")
    noise_figure_db: float = Field(5.0, ge=0, description="BS receiver noise figure [dB].")
    fading: Literal["none", "rayleigh", "rician"] = Field(
        "none", description="Small-scale block fading, redrawn every coherence time."
    )
    rician_k_db: Annotated[float, When("fading", "rician")] = Field(
        3.0, description="K factor [dB]."
    )
    coherence_time_s: Annotated[float, When("fading", "rayleigh", "rician")] = Field(
        0.05, gt=0, description="Block-fading coherence time [s] (ASM default)."
    )
    mobility: Literal["static", "random_waypoint"] = Field(
        "static", description="Device movement inside the cell."
    )
    speed_min_mps: Annotated[float, When("mobility", "random_waypoint")] = Field(
        0.5, ge=0, description="Min speed [m/s]."
    )
    speed_max_mps: Annotated[float, When("mobility", "random_waypoint")] = Field(
        1.5, gt=0, description="Max speed [m/s]."
    )
    pause_s: Annotated[float, When("mobility", "random_waypoint")] = Field(
        0.0, ge=0, description="Pause at each waypoint [s]."
    )
    mobility_update_s: Annotated[float, When("mobility", "random_waypoint")] = Field(
        1.0, gt=0, description="Interval between distance/SNR updates of moving devices [s]."
    )

    @model_validator(mode="after")
    def _check_geometry(self) -> PathlossChannelConfig:
        if self.min_distance_m >= self.cell_radius_m:
            raise ValueError("min_distance_m must be smaller than cell_radius_m")
        if self.speed_min_mps > self.speed_max_mps:
            raise ValueError("speed_min_mps must not exceed speed_max_mps")
        if self.pathloss_model in ("uma", "umi") and self.min_distance_m < 10.0:
            raise ValueError(
                "min_distance_m must be >= 10 m for TR 38.901 UMa/UMi (its valid range)"
            )
        if self.mobility == "random_waypoint" and self.speed_min_mps <= 0:
            raise ValueError("random_waypoint needs speed_min_mps > 0")
        return self


ChannelConfig = by_kind(
    "model",
    FixedChannelConfig,
    PerDeviceChannelConfig,
    PathlossChannelConfig,
    description="Per-device uplink SNR and how it maps to a rate. `fixed`: every device has "
    "`snr_db`. `per_device`: `snr_db_list`, or a spread around `snr_db` drawn once per device. "
    "`pathloss`: devices dropped in a cell; SNR from transmit power, path loss (TR 38.901 "
    "UMa/UMi or log-distance), shadowing, block fading and thermal noise.",
)


# --- uplink ----------------------------------------------------------------------------------


class _Uplink(SchemaModel):
    bandwidth_hz: float = Field(10e6, gt=0, description="Uplink bandwidth W [Hz].")
    power_model: Literal["constant_psd", "full_power"] = Field(
        "constant_psd",
        description="How a device's transmit power follows its share W_n of the band; rate "
        "and energy always come from the same model. `constant_psd`: fixed power spectral "
        "density, so the device radiates P_tx*W_n/W at the band SNR. `full_power`: all of "
        "P_tx goes into W_n, SNR_n = SNR + 10*log10(W/W_n), radiating P_tx. Both pay "
        "circuit power while the device sends (slotted: only in slots it is given RBs).",
    )


class EqualShareUplinkConfig(_Uplink):
    """Fluid processor sharing: W / n_active each."""

    scheduler: Literal["equal_share"] = "equal_share"


class SlottedUplinkConfig(_Uplink):
    """Resource blocks scheduled per slot."""

    scheduler: Literal["round_robin", "max_rate"]
    numerology: int = Field(
        0,
        ge=0,
        le=4,
        description="NR numerology mu: subcarrier spacing 15*2^mu kHz, RB width 12 "
        "subcarriers, slot 1/2^mu ms (TS 38.211).",
    )
    num_rb: int | None = Field(
        None,
        ge=1,
        description="Resource blocks per slot; null = floor(bandwidth_hz / RB width).",
    )

    @model_validator(mode="after")
    def _check_rbs(self) -> SlottedUplinkConfig:
        if self.num_rb is None:
            rb_hz = 12 * 15e3 * 2**self.numerology
            if self.bandwidth_hz < rb_hz:
                raise ValueError(
                    f"bandwidth_hz {self.bandwidth_hz:g} is below one resource block "
                    f"({rb_hz:g} Hz at numerology {self.numerology})"
                )
        return self


class ProportionalFairUplinkConfig(SlottedUplinkConfig):
    """Slotted, with the averaging window of its metric."""

    scheduler: Literal["proportional_fair"]
    pf_window_slots: float = Field(
        100.0,
        gt=1,
        description="Averaging window of the throughput T [slots] (beta = 1 - 1/window).",
    )


UplinkConfig = by_kind(
    "scheduler",
    EqualShareUplinkConfig,
    SlottedUplinkConfig,
    ProportionalFairUplinkConfig,
    description="The shared uplink radio. `equal_share`: every active transmission gets "
    "W / n_active (fluid processor sharing). `round_robin`, `proportional_fair`, `max_rate` "
    "(max C/I): resource blocks scheduled per slot.",
)


class DownlinkConfig(SchemaModel):
    """Return path from the base station to the device (the verified token is tiny)."""

    latency_s: float = Field(0.0, ge=0, description="Downlink delay per verified token [s].")


# --- server ----------------------------------------------------------------------------------


class _Server(SchemaModel):
    gpus: int = Field(1, ge=1, description="Number of GPUs, each serving one batch at a time.")
    max_batch: int = Field(1, ge=1, description="Largest number of verifications in one batch.")
    max_wait_s: float = Field(
        0.0,
        ge=0,
        description="How long an idle GPU waits for a batch to fill before starting [s].",
    )
    llm_latency_dist: Literal["fixed", "lognormal", "trace"] = Field(
        "lognormal",
        description="Distribution of a batch's verification time: t(b) times one factor per "
        "batch with mean 1. `fixed`: factor 1. `lognormal`: drawn from the GPU's own stream, "
        "coefficient of variation llm_latency_cv. `trace`: the mean recorded t_target_ms of the "
        "batch's rows over the trace's mean.",
    )
    llm_latency_cv: Annotated[float, When("llm_latency_dist", "lognormal")] = Field(
        0.1,
        ge=0,
        le=5,
        description="Coefficient of variation of the lognormal batch-time factor (ASM: a GPU "
        "kernel's time varies less than a phone's; the CPU-recorded t_target_ms has cv 0.25).",
    )
    discipline: Literal["fifo", "priority_uncertainty", "priority_importance"] = Field(
        "fifo",
        description="GPU queue order: first come first served, or highest token "
        "uncertainty / importance first (ties in arrival order).",
    )


class AffineServerConfig(_Server):
    """t(b) = llm_latency_s + batch_per_item_s * (b - 1)."""

    latency_model: Literal["affine"] = "affine"
    llm_latency_s: float = Field(
        0.208,
        gt=0,
        description="Time of one verification with batch size 1 [s] (208 ms: "
        "Qwen2.5-Coder-1.5B bf16 on CPU, docs/models.md §5).",
    )
    batch_per_item_s: float = Field(
        0.0,
        ge=0,
        description="Extra latency per additional item in a batch [s]: "
        "t(b) = llm_latency_s + batch_per_item_s * (b - 1).",
    )


class TableServerConfig(_Server):
    """t(b) interpolated in a table: given, or a documented profile."""

    latency_model: Literal["table"] = "table"
    latency_table: list[tuple[int, float]] | None = Field(
        None,
        description="[[batch size, seconds], ...], batch sizes increasing from 1; linear "
        "interpolation, extrapolated from the last two points.",
    )
    profile: Literal["qwen_coder_1_5b_cpu", "llama2_7b_a100"] | None = Field(
        None,
        description="A documented t(b) table instead of latency_table "
        "(cuhlm_sim/config/profiles.py): `qwen_coder_1_5b_cpu` (the traced pair on 2 CPU "
        "cores) or `llama2_7b_a100` (the papers' verifier class on a data-centre GPU). Given "
        "without latency_model, it selects `table`.",
    )

    @model_validator(mode="after")
    def _check_table(self) -> TableServerConfig:
        if self.profile is not None:
            if self.latency_table is not None:
                raise ValueError("set either latency_table or profile, not both")
            return self
        t = self.latency_table
        if not t:
            raise ValueError(
                "latency_model 'table' needs latency_table: [[1, t1], ...] or a profile"
            )
        sizes = [b for b, _ in t]
        if sizes[0] != 1 or any(b2 <= b1 for b1, b2 in itertools.pairwise(sizes)):
            raise ValueError("latency_table batch sizes must start at 1 and increase")
        if any(v <= 0 for _, v in t):
            raise ValueError("latency_table times must be > 0")
        return self


ServerConfig = by_kind(
    "latency_model",
    AffineServerConfig,
    TableServerConfig,
    description="The base station's LLM verification server, by its batch latency t(b). "
    "`affine`: t(b) = llm_latency_s + batch_per_item_s*(b-1). `table`: interpolated in "
    "`latency_table` or a `profile`.",
    infer=lambda data: "table" if data.get("profile") is not None else None,
)


# --- policy ----------------------------------------------------------------------------------


class _Policy(SchemaModel):
    threshold: float = Field(
        0.081,
        ge=0,
        le=1,
        description="Uncertainty threshold u_th: a token is skipped when u <= u_th "
        "(0.081: CU-HLM's risk-averse threshold, docs/theory.md §4).",
    )
    rejection_a: float = Field(
        0.815, description="Slope a of the linear rejection model beta = a*u + b (CU-HLM, SEC)."
    )
    rejection_b: float = Field(
        -0.066, description="Intercept b of the linear rejection model (CU-HLM, SEC)."
    )
    importance_source: Literal["trace", "synthetic"] = Field(
        "trace",
        description="ihlm / priority_importance: the trace's `importance` column, or a "
        "synthetic I ~ Beta(importance_beta) per row when the trace has none (ASM).",
    )
    importance_beta: tuple[float, float] = Field(
        (2.0, 5.0), description="Beta(α, β) of synthetic importance scores (mean 0.29)."
    )


class BasicPolicyConfig(_Policy):
    """The schemes without keys of their own."""

    kind: Literal["hlm", "uhlm", "slm_only", "llm_only"] = "uhlm"


class CuhlmPolicyConfig(_Policy):
    kind: Literal["cuhlm"] = "cuhlm"
    truncation_k: int | None = Field(
        None,
        ge=1,
        description="Keep the k most likely entries (must be in the trace's k_grid); "
        "null = send the whole vocabulary.",
    )
    tv_budget: float | None = Field(
        None,
        gt=0,
        description="Online truncation: per token, the smallest grid k whose distortion bound "
        "U_TV(k) <= tv_budget (CU-HLM eq. 26). Exclusive with truncation_k.",
    )

    @model_validator(mode="after")
    def _check_truncation(self) -> CuhlmPolicyConfig:
        if self.truncation_k is not None and self.tv_budget is not None:
            raise ValueError("set either truncation_k or tv_budget, not both")
        return self


class IhlmPolicyConfig(_Policy):
    kind: Literal["ihlm"] = "ihlm"
    importance_rule: Literal["and", "weighted"] = Field(
        "and",
        description="`and` = transmit iff u > threshold and I >= importance_threshold "
        "(2508.12590, SEC); `weighted` = transmit iff "
        "(1 - importance_weight)*u + importance_weight*I > threshold.",
    )
    importance_threshold: Annotated[float, When("importance_rule", "and")] = Field(
        0.2, ge=0, le=1, description="Transmit only drafts with importance I >= this (ASM)."
    )
    importance_weight: Annotated[float, When("importance_rule", "weighted")] = Field(
        0.5, ge=0, le=1, description="Weight of importance vs uncertainty."
    )


class RandomSkipPolicyConfig(_Policy):
    kind: Literal["random_skip"] = "random_skip"
    skip_probability: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Probability of skipping a token; null = the share of trace rows with "
        "u <= threshold (Rand-HLM matched to U-HLM).",
    )


class UhlmAdaptivePolicyConfig(_Policy):
    """U-HLM whose threshold follows the device's spectral efficiency (our scheme, ASM):
    u_th(eta) = clip(threshold + threshold_slope*(eta_ref - eta), threshold_min, threshold_max),
    policies/adaptive.py."""

    kind: Literal["uhlm_adaptive"] = "uhlm_adaptive"
    eta_ref: float = Field(
        5.69,
        gt=0,
        description="Spectral efficiency [bit/s/Hz] at which u_th = threshold (5.69: Shannon "
        "at 17 dB, the default SNR; ASM).",
    )
    threshold_slope: float = Field(
        0.04,
        ge=0,
        description="u_th added per bit/s/Hz that the device's current eta lies below eta_ref "
        "(subtracted above it); 0 = U-HLM (ASM).",
    )
    threshold_min: float = Field(0.0, ge=0, le=1, description="Lowest u_th(eta).")
    threshold_max: float = Field(
        0.43,
        ge=0,
        le=1,
        description="Highest u_th(eta) (0.43: U-HLM's risk-prone threshold, SEC).",
    )

    @model_validator(mode="after")
    def _check_bounds(self) -> UhlmAdaptivePolicyConfig:
        if self.threshold_min > self.threshold_max:
            raise ValueError("threshold_min must not exceed threshold_max")
        return self


PolicyConfig = by_kind(
    "kind",
    BasicPolicyConfig,
    CuhlmPolicyConfig,
    IhlmPolicyConfig,
    RandomSkipPolicyConfig,
    UhlmAdaptivePolicyConfig,
    description="Which scheme decides, per token, whether to transmit (each scheme's rule: "
    "docs/theory.md §9).",
)


class PayloadConfig(SchemaModel):
    """How a draft distribution is encoded on the uplink."""

    prob_bits: int = Field(8, ge=1, le=64, description="Bits per probability value b_p.")
    encoding: Literal["indexed", "dense"] = Field(
        "indexed",
        description="Full-vocabulary payload: `indexed` = |V|*(b_p + b_i) (the papers' HLM "
        "baseline), `dense` = |V|*b_p (no indices). Truncated payloads are always indexed.",
    )
    vocab_size: int | None = Field(
        None,
        ge=2,
        description="|V| for payload sizes; null = the trace's vocabulary (index bits "
        "b_i = ceil(log2 |V|)). Set 32000 to reproduce the papers' payloads.",
    )
    overhead_bits: int = Field(
        0, ge=0, description="Fixed bits added to every transmission (headers, draft id)."
    )


class EnergyConfig(SchemaModel):
    """Power draws for the energy accounts (structure ASM, docs/theory.md §6)."""

    device_compute_w: float = Field(
        5.0, ge=0, description="Device power while drafting (P_cmp) [W] (ASM: 5-15 W)."
    )
    device_wait_w: float = Field(
        0.0, ge=0, description="Device power while waiting for a verification result [W]."
    )
    tx_power_w: float = Field(0.2, ge=0, description="Radiated uplink power P_tx [W] (23 dBm).")
    tx_circuit_w: float = Field(
        0.1, ge=0, description="Transmitter circuit power P_circ while sending [W] (ASM)."
    )
    gpu_busy_w: float = Field(
        300.0, ge=0, description="Power of a GPU while it verifies a batch [W] (ASM)."
    )
    gpu_idle_w: float = Field(0.0, ge=0, description="Power of an idle GPU [W].")


class TraceConfig(SchemaModel):
    """The token trace the devices replay."""

    path: Path | None = Field(
        None,
        description="Trace Parquet file, or a folder of them (relative paths in a scenario "
        "file are relative to that file); null = a synthetic trace generated in memory "
        "(`cuhlm traces synth` documents its model).",
    )
    synth_seed: int = Field(
        0, ge=0, description="Seed of the synthetic trace (and of any reconstructed columns)."
    )
    synth_rows: int = Field(
        20_000, ge=100, description="Rows of the in-memory synthetic trace (path: null)."
    )
    kinds: list[Literal["code", "prose", "chat"]] | None = Field(
        None, description="Replay only these prompt kinds; null = all rows."
    )
    resample_prompts: bool | None = Field(
        None,
        description="Each run replays prompts drawn with replacement from the trace (a "
        "cluster bootstrap by prompt, stratified by kind, from the run's own stream), so the "
        "spread over repetitions covers the choice of prompts as well as the seed "
        "(cuhlm_sim/traces/resample.py). null = off in `cuhlm run`, on in `cuhlm sweep` and "
        "`cuhlm capacity` (docs/experiments.md); true/false forces it.",
    )


def _finite(v: float) -> bool:
    """math.isfinite, False for an int too large for a float (it raises OverflowError)."""
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


class Scenario(SchemaModel):
    """One simulated cell: devices, channel, uplink, GPU server, policy and trace."""

    name: str = Field("", description="Free-form name, copied into the outputs.")
    seed: int = Field(0, ge=0, description="Root seed of every random stream.")
    duration_s: float = Field(
        60.0, gt=0, description="Simulated time measured after the warm-up [s]."
    )
    warmup_s: float | Literal["auto"] = Field(
        5.0,
        description="Simulated time discarded at the start [s], or `auto`: found by MSER-5 on "
        "a pilot run of the same seed over [0, duration_s] (docs/metrics.md, Steady state); "
        "`duration_s` is then measured after the warm-up found.",
    )
    # A section by kind defaults to {}: its default kind with every key at its default.
    devices: DevicesConfig = DevicesConfig()
    channel: ChannelConfig = Field(default_factory=dict)
    uplink: UplinkConfig = Field(default_factory=dict)
    downlink: DownlinkConfig = DownlinkConfig()
    server: ServerConfig = Field(default_factory=dict)
    policy: PolicyConfig = Field(default_factory=dict)
    payload: PayloadConfig = PayloadConfig()
    energy: EnergyConfig = EnergyConfig()
    trace: TraceConfig = TraceConfig()

    @field_validator("warmup_s", mode="before")
    @classmethod
    def _warmup_number_or_auto(cls, v: object) -> object:
        """One message for every wrong warm-up (the union would give one per member)."""
        if v == "auto" or (
            isinstance(v, int | float) and not isinstance(v, bool) and _finite(v) and v >= 0
        ):
            return v
        raise ValueError("Input should be a number of seconds >= 0 or 'auto'")
