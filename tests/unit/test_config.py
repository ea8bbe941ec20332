"""Scenario loading: overrides, path resolution, error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from cuhlm_sim.config import load_scenario, parse_overrides
from cuhlm_sim.errors import ScenarioError


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


def test_overrides_are_yaml_typed():
    assert parse_overrides(["a.b=1e6", "c=null", "d=[1, 2]", "e=uhlm"]) == [
        ("a.b", 1e6),
        ("c", None),
        ("d", [1, 2]),
        ("e", "uhlm"),
    ]


def test_override_reaches_nested_key(tmp_path):
    p = _write(tmp_path, "devices: {count: 3}\n")
    scn = load_scenario(p, ["devices.count=11", "server.max_batch=4"], seed=9)
    assert (scn.devices.count, scn.server.max_batch, scn.seed) == (11, 4, 9)


def test_trace_path_relative_to_file_but_override_relative_to_cwd(tmp_path):
    p = _write(tmp_path, "trace: {path: t.parquet}\n")
    assert load_scenario(p).trace.path == tmp_path / "t.parquet"
    assert load_scenario(p, ["trace.path=x/t.parquet"]).trace.path == Path("x/t.parquet")


@pytest.mark.parametrize(
    ("text", "overrides", "pattern"),
    [
        ("devices: {cuont: 3}\n", [], r"s\.yaml: devices\.cuont: unknown key"),
        ("duration_s: -1\n", [], r"duration_s: Input should be greater than 0 \(got -1\)"),
        ("policy: {threshold: 1.5}\n", [], r"policy\.threshold: .*less than or equal to 1"),
        ("uplink: {bandwidth_hz: 0}\n", [], r"uplink\.bandwidth_hz: .*greater than 0"),
        ("devices: {count: many}\n", [], r"devices\.count: .*integer"),
        (
            "policy: {kind: hlm, truncation_k: 30}\n",
            [],
            r"s\.yaml: policy\.truncation_k: only for kind 'cuhlm', but kind is 'hlm' \(got 30\)$",
        ),
        ("seed: 1\n", ["devices.count"], r"--set 'devices\.count': expected KEY=VALUE"),
        ("seed: 1\n", ["seed.x=1"], r"--set seed\.x: seed is a value"),
        ("a: [1\n", [], r"s\.yaml: YAML syntax error at line 2"),
        ("- 1\n", [], r"expected a mapping"),
    ],
)
def test_errors_name_file_and_field(tmp_path, text, overrides, pattern):
    p = _write(tmp_path, text)
    with pytest.raises(ScenarioError, match=pattern):
        load_scenario(p, overrides)


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="scenario file not found"):
        load_scenario(tmp_path / "nope.yaml")


# ---------------------------------------------------------------- sections with one model per kind


@pytest.mark.parametrize(
    ("text", "overrides", "line"),
    [
        # a key of another kind: the key's path, the kinds it belongs to, the kind chosen
        (
            "channel: {model: pathloss, snr_db: 3}\n",
            [],
            "channel.snr_db: only for model 'fixed' or 'per_device', but model is 'pathloss' "
            "(got 3)",
        ),
        (
            "channel: {model: pathloss, fading: rayleigh, rician_k_db: 6}\n",
            [],
            "channel.rician_k_db: only for fading 'rician', but fading is 'rayleigh' (got 6)",
        ),
        (
            "server: {profile: llama2_7b_a100, llm_latency_s: 0.1}\n",
            [],
            "server.llm_latency_s: only for latency_model 'affine', but latency_model is 'table' "
            "(got 0.1)",
        ),
        (
            "uplink: {numerology: 1}\n",
            [],
            "uplink.numerology: only for scheduler 'round_robin', 'max_rate' or "
            "'proportional_fair', but scheduler is 'equal_share' (got 1)",
        ),
        # a kind that does not exist: the kind key, the kinds there are
        (
            "channel: {model: pathlos}\n",
            [],
            "channel.model: Input should be 'fixed', 'per_device' or 'pathloss' (got 'pathlos')",
        ),
        # a problem inside a kind: the path as written, without the kind pydantic inserts
        (
            "channel: {model: pathloss, carrier_ghz: -1}\n",
            [],
            "channel.carrier_ghz: Input should be greater than 0 (got -1)",
        ),
        ("policy: {kind: cuhlm, tuncation_k: 3}\n", [], "policy.tuncation_k: unknown key"),
        (
            "policy: {kind: uhlm}\n",
            ["policy.truncation_k=30"],
            "policy.truncation_k: only for kind 'cuhlm', but kind is 'uhlm' (got 30)",
        ),
    ],
)
def test_a_key_of_another_kind_is_one_clear_line(tmp_path, text, overrides, line):
    p = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(p, overrides)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{p}{' (with --set)' if overrides else ''}: {line}"), message


def test_keys_of_another_kind_at_their_default_or_null_change_nothing(tmp_path):
    """A base file serves several kinds: `--set policy.kind=hlm` on a U-HLM file with
    `truncation_k: null`, a pathloss channel with the default `snr_db`."""
    p = _write(
        tmp_path,
        "channel: {model: pathloss, snr_db: 17.0, rician_k_db: null}\n"
        "policy: {kind: uhlm, truncation_k: null, skip_probability: null}\n",
    )
    scn = load_scenario(p, ["policy.kind=hlm", "policy.tv_budget=null"])
    assert scn.channel.model == "pathloss" and scn.policy.kind == "hlm"
    assert scn.channel == load_scenario(_write(tmp_path, "channel: {model: pathloss}\n")).channel


def test_set_that_changes_a_kind_drops_the_file_keys_of_the_old_kind(tmp_path):
    p = _write(
        tmp_path,
        "channel: {model: pathloss, fading: rician, rician_k_db: 6, mobility: random_waypoint}\n"
        "uplink: {scheduler: proportional_fair, numerology: 1, pf_window_slots: 50}\n"
        "policy: {kind: cuhlm, truncation_k: 30, threshold: 0.2}\n",
    )
    scn = load_scenario(
        p, ["channel.model=fixed", "uplink.scheduler=equal_share", "policy.kind=uhlm"]
    )
    assert (scn.channel.model, scn.uplink.scheduler, scn.policy.kind) == (
        "fixed",
        "equal_share",
        "uhlm",
    )
    assert scn.policy.threshold == 0.2  # a key of both kinds stays
    assert load_scenario(p, ["channel.fading=rayleigh"]).channel.rician_k_db == 3.0
    # ... but a key the override itself sets must fit the new kind
    with pytest.raises(ScenarioError, match=r"channel\.rician_k_db: only for fading 'rician'"):
        load_scenario(p, ["channel.fading=rayleigh", "channel.rician_k_db=6"])
    with pytest.raises(ScenarioError, match=r"channel\.carrer_ghz: unknown key"):  # typos stay
        load_scenario(_write(tmp_path, "channel: {carrer_ghz: 3}\n"), ["channel.model=pathloss"])
