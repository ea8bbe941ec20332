"""``cuhlm run``: summary, manifest, token log, overrides and atomic result folders."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from cuhlm_sim.cli import app
from cuhlm_sim.config import load_scenario
from cuhlm_sim.traces.io import load_trace

SUMMARY_KEYS = (
    "tokens_generated",
    "throughput_tokens_per_s",
    "throughput_per_device_tokens_per_s",
    "skip_rate",
    "transmission_rate",
    "true_skip_rate",
    "rejection_rate",
    "uplink_bits_per_transmission",
    "mean_token_latency_s",
    "p95_token_latency_s",
    "gpu_utilization",
    "mean_gpu_queue_wait_s",
    "uplink_utilization",
)
STAGES = ("slm_s", "uplink_queue_s", "airtime_s", "gpu_queue_s", "gpu_service_s", "downlink_s")


def run_ok(runner, *args: str):
    result = runner.invoke(app, ["run", *map(str, args)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Traceback" not in result.output
    return result


def flat(text: str) -> str:
    """Console text with rich's line wrapping undone (it wraps long paths at 80 columns)."""
    return " ".join(text.split())


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def finished_run(cli_runner, write_scenario, tmp_path):
    """One logged run of the default test scenario: (scenario, out folder, cli result)."""
    scenario = write_scenario()
    out = tmp_path / "result"
    result = run_ok(cli_runner, scenario, "--out", out, "--log-tokens")
    return scenario, out, result


def test_run_writes_summary_with_required_keys(finished_run):
    _, out, result = finished_run
    assert sorted(p.name for p in out.iterdir()) == [
        ".cuhlm-result",
        "devices.parquet",
        "manifest.json",
        "summary.json",
        "tokens.parquet",
    ]
    s = read_json(out / "summary.json")
    missing = [k for k in SUMMARY_KEYS if k not in s]
    assert not missing
    for key in SUMMARY_KEYS:
        assert isinstance(s[key], int | float) and math.isfinite(s[key]), (key, s[key])
    n = s["tokens_generated"]
    assert isinstance(n, int) and n > 0
    # Throughput is counted over duration_s (5 s) after the warm-up, for 3 devices.
    assert s["throughput_tokens_per_s"] == pytest.approx(n / 5.0, rel=1e-12)
    assert s["throughput_per_device_tokens_per_s"] == pytest.approx(n / 5.0 / 3, rel=1e-12)
    assert s["skip_rate"] + s["transmission_rate"] == pytest.approx(1.0, abs=1e-12)
    for key in ("skip_rate", "true_skip_rate", "rejection_rate", "gpu_utilization"):
        assert 0.0 <= s[key] <= 1.0, key
    # U-HLM at u_th = 0.081 skips a good share of tokens on the synthetic trace, not all.
    assert 0.3 < s["skip_rate"] < 0.95
    # Full-vocabulary indexed payload: |V| * (prob_bits + ceil(log2 |V|)) bits.
    vocab = 151_936
    assert s["uplink_bits_per_transmission"] == vocab * (8 + math.ceil(math.log2(vocab)))
    # A token takes at least the SLM draft time (0.01 s); p95 >= mean on this skewed law.
    assert s["mean_token_latency_s"] >= 0.01 - 1e-12
    assert s["p95_token_latency_s"] >= s["mean_token_latency_s"]
    # The printed table shows the same numbers.
    assert "tokens generated" in result.stdout
    assert str(n) in result.stdout
    assert f"results: {out}" in flat(result.stdout)


def test_summary_matches_the_token_log(finished_run):
    _, out, _ = finished_run
    s = read_json(out / "summary.json")
    tok = pq.read_table(out / "tokens.parquet").to_pandas()
    for col in ("device", "t_start_s", "t_commit_s", "sent", "accepted", *STAGES, "in_window"):
        assert col in tok.columns, col
    win = tok[tok["in_window"]]
    assert len(win) == s["tokens_generated"]
    assert (win["t_commit_s"] >= 1.0).all() and (win["t_commit_s"] <= 6.0).all()
    assert not tok.loc[~tok["in_window"], "t_commit_s"].between(1.0, 6.0).any()
    # Every token is committed after it started; the stages add up to its latency.
    latency = (tok["t_commit_s"] - tok["t_start_s"]).to_numpy()
    stages = tok[list(STAGES)].to_numpy().sum(axis=1)
    np.testing.assert_allclose(stages, latency, rtol=0, atol=1e-9)
    assert (tok[list(STAGES)].to_numpy() >= -1e-12).all()
    # Skipped tokens only spend the SLM time; sent ones travel the uplink.
    skipped = win[~win["sent"]]
    np.testing.assert_allclose(skipped["slm_s"], 0.01, atol=1e-12)
    assert (skipped[list(STAGES[1:])].to_numpy() == 0).all()
    sent = win[win["sent"]]
    assert (sent["airtime_s"] > 0).all() and (sent["gpu_service_s"] > 0).all()
    np.testing.assert_allclose(sent["downlink_s"], 0.001, atol=1e-12)
    # The summary rates are the token log's fractions.
    assert s["skip_rate"] == pytest.approx(1.0 - win["sent"].mean(), abs=1e-12)
    assert s["rejection_rate"] == pytest.approx(1.0 - sent["accepted"].mean(), abs=1e-12)
    assert s["true_skip_rate"] == pytest.approx(skipped["accepted"].mean(), abs=1e-12)
    # The recorder keeps sent-token latencies as float32 (by design): compare to 1e-6.
    win_latency = (win["t_commit_s"] - win["t_start_s"]).to_numpy()
    assert s["mean_token_latency_s"] == pytest.approx(win_latency.mean(), rel=1e-6)
    p95 = float(np.quantile(win_latency, 0.95, method="inverted_cdf"))
    assert s["p95_token_latency_s"] == pytest.approx(p95, rel=1e-6)
    assert s["uplink_bits_per_transmission"] == pytest.approx(sent["payload_bits"].mean())
    # Each device appears, and the per-device counts add up.
    assert sorted(win["device"].unique()) == [0, 1, 2]


def test_manifest_pins_config_seed_version_and_trace_hash(finished_run, tiny_trace):
    import cuhlm_sim

    scenario, out, _ = finished_run
    m = read_json(out / "manifest.json")
    assert m["seed"] == 0
    assert m["cuhlm_sim_version"] == cuhlm_sim.__version__
    cfg = m["config"]
    assert cfg["duration_s"] == 5.0 and cfg["warmup_s"] == 1.0
    assert cfg["devices"]["count"] == 3
    assert cfg["policy"] == {**cfg["policy"], "kind": "uhlm", "threshold": 0.081}
    assert "truncation_k" not in cfg["policy"]  # a key of kind cuhlm only
    # Resolved: defaults the scenario did not write are filled in.
    assert cfg["server"]["gpus"] == 1
    assert cfg["payload"]["prob_bits"] == 8
    assert Path(cfg["trace"]["path"]) == tiny_trace
    digest = hashlib.sha256(tiny_trace.read_bytes()).hexdigest()
    assert m["trace"]["files"] == [{"path": str(tiny_trace), "sha256": digest}]
    assert m["scenario_path"] == str(scenario)


def test_log_tokens_off_writes_no_token_file(cli_runner, write_scenario, tmp_path):
    out = tmp_path / "plain"
    run_ok(cli_runner, write_scenario(), "--out", out, "-q")
    assert sorted(p.name for p in out.iterdir()) == [
        ".cuhlm-result",
        "devices.parquet",
        "manifest.json",
        "summary.json",
    ]


def test_quiet_prints_no_table(cli_runner, write_scenario, tmp_path):
    result = run_ok(cli_runner, write_scenario(), "--out", tmp_path / "q", "--quiet")
    assert "tokens generated" not in result.stdout
    assert "results:" in result.stdout


def test_seed_option_reaches_config_and_changes_the_run(cli_runner, write_scenario, tmp_path):
    scenario = write_scenario(devices={"start_spread_s": 0.5})
    runs = {}
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        out = tmp_path / name
        run_ok(cli_runner, scenario, "--seed", seed, "--out", out, "-q")
        m = read_json(out / "manifest.json")
        assert m["seed"] == seed and m["config"]["seed"] == seed
        runs[name] = read_json(out / "summary.json")
    strip = ("wall_time_s", "simpy_events")
    same = [{k: v for k, v in r.items() if k not in strip} for r in runs.values()]
    assert same[0] == same[1]  # same seed, same summary
    assert same[0] != same[2]  # another seed, another run


def test_set_reaches_config_and_the_result(cli_runner, write_scenario, tmp_path):
    out = tmp_path / "slm"
    run_ok(
        cli_runner,
        write_scenario(),
        "--set",
        "policy.kind=slm_only",
        "-s",
        "devices.count=4",
        "--out",
        out,
        "-q",
    )
    m = read_json(out / "manifest.json")
    assert m["config"]["policy"]["kind"] == "slm_only"
    assert m["config"]["devices"]["count"] == 4
    assert m["overrides"] == ["policy.kind=slm_only", "devices.count=4"]
    s = read_json(out / "summary.json")
    # slm_only: nothing is sent and each device drafts one token per slm_latency_s (0.01 s).
    assert s["skip_rate"] == 1.0
    assert s["throughput_per_device_tokens_per_s"] == pytest.approx(1 / 0.01, rel=0.01)
    assert s["uplink_utilization"] == 0.0 and s["gpu_utilization"] == 0.0


def test_later_set_wins_over_earlier(cli_runner, write_scenario, tmp_path):
    out = tmp_path / "twice"
    run_ok(cli_runner, write_scenario(), "-s", "seed=1", "-s", "seed=2", "--out", out, "-q")
    assert read_json(out / "manifest.json")["seed"] == 2


@pytest.fixture
def other_trace(tmp_path):
    from cuhlm_sim.traces.io import write_trace
    from cuhlm_sim.traces.synth import SynthParams, synth_table

    table, meta = synth_table(SynthParams(num_rows=300, vocab_size=1000), 5)
    path = tmp_path / "other" / "trace.parquet"
    write_trace(table, path, meta)
    return path


#: A new value for every public dotted key of the issue (extra --set items where needed).
PUBLIC_KEYS = [
    ("seed", "7", 7, ()),
    ("duration_s", "3.5", 3.5, ()),
    ("warmup_s", "0.5", 0.5, ()),
    ("devices.count", "2", 2, ()),
    ("devices.slm_latency_s", "0.02", 0.02, ()),
    ("devices.tokens_per_request", "10", 10, ()),
    ("devices.think_time_s", "0.25", 0.25, ()),
    ("channel.model", "fixed", "fixed", ("channel.snr_db=3",)),
    ("channel.snr_db", "3.5", 3.5, ()),
    ("uplink.bandwidth_hz", "2e7", 2e7, ()),
    ("downlink.latency_s", "0.004", 0.004, ()),
    ("server.gpus", "2", 2, ()),
    ("server.llm_latency_s", "0.05", 0.05, ()),
    ("server.max_batch", "2", 2, ()),
    ("policy.kind", "hlm", "hlm", ()),
    ("policy.threshold", "0.3", 0.3, ()),
    ("policy.truncation_k", "16", 16, ("policy.kind=cuhlm",)),
    ("payload.prob_bits", "16", 16, ()),
    ("trace.path", None, None, ()),  # filled in with the other_trace fixture
]


@pytest.mark.parametrize(("key", "raw", "expected", "extra"), PUBLIC_KEYS, ids=lambda v: v)
def test_every_public_key_is_reachable_by_set(
    cli_runner, write_scenario, tmp_path, other_trace, key, raw, expected, extra
):
    if key == "trace.path":
        raw, expected = str(other_trace), str(other_trace)
    scenario = write_scenario()
    before = load_scenario(scenario).model_dump(mode="json")
    for part in key.split("."):
        before = before.get(part)  # None: a key the file's kind does not have
    # channel.model has one choice so far ("fixed"); every other value must be a change.
    assert before != expected or key == "channel.model"
    out = tmp_path / "out"
    args = [scenario, "--set", f"{key}={raw}"]
    for item in extra:
        args += ["--set", item]
    run_ok(cli_runner, *args, "--out", out, "-q")
    m = read_json(out / "manifest.json")
    node = m["config"]
    for part in key.split("."):
        node = node[part]
    assert node == expected
    if key == "trace.path":
        digest = hashlib.sha256(other_trace.read_bytes()).hexdigest()
        assert m["trace"]["files"] == [{"path": str(other_trace), "sha256": digest}]
    if key == "payload.prob_bits" and read_json(out / "summary.json")["transmission_rate"]:
        bits = read_json(out / "summary.json")["uplink_bits_per_transmission"]
        assert bits == 151_936 * (16 + 18)


# ---------------------------------------------------------------- atomic result folders


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def no_temp_siblings(out: Path) -> bool:
    return not [p.name for p in out.parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_existing_out_without_force_is_left_alone(cli_runner, finished_run):
    scenario, out, _ = finished_run
    before = snapshot(out)
    result = cli_runner.invoke(app, ["run", str(scenario), "--out", str(out), "--seed", "9"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert f"--out: {out} already holds results" in result.stderr
    assert "--force" in result.stderr
    assert snapshot(out) == before
    assert no_temp_siblings(out)


def test_existing_out_with_force_is_replaced(cli_runner, finished_run):
    scenario, out, _ = finished_run
    (out / "stale.txt").write_text("old run\n", encoding="utf-8")
    run_ok(cli_runner, scenario, "--out", out, "--seed", "9", "--force", "-q")
    assert sorted(p.name for p in out.iterdir()) == [
        ".cuhlm-result",
        "devices.parquet",
        "manifest.json",
        "summary.json",
    ]
    assert read_json(out / "manifest.json")["seed"] == 9
    assert no_temp_siblings(out)


def test_empty_existing_out_is_used(cli_runner, write_scenario, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    run_ok(cli_runner, write_scenario(), "--out", out, "-q")
    assert (out / "summary.json").is_file()


def test_nested_out_is_created(cli_runner, write_scenario, tmp_path):
    out = tmp_path / "a" / "b" / "c"
    run_ok(cli_runner, write_scenario(), "--out", out, "-q")
    assert (out / "manifest.json").is_file()


@pytest.mark.parametrize(
    "target", ["cuhlm_sim.runner.simulate", "cuhlm_sim.runner.summarize"], ids=["sim", "sum"]
)
def test_failure_before_writing_leaves_nothing(
    cli_runner, write_scenario, tmp_path, monkeypatch, target
):
    def boom(*args, **kwargs):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(target, boom)
    out = tmp_path / "crash"
    result = cli_runner.invoke(app, ["run", str(write_scenario()), "--out", str(out), "-q"])
    assert result.exit_code != 0
    assert isinstance(result.exception, RuntimeError)  # a bug keeps its traceback
    assert not out.exists()
    assert no_temp_siblings(out)


@pytest.mark.parametrize("force", [False, True])
def test_failure_while_writing_leaves_no_partial_folder(
    cli_runner, write_scenario, tmp_path, monkeypatch, force
):
    """summary.json is written first; the token log then fails: one line (a write that
    fails is the machine's doing, not a bug), and nothing may remain."""
    import cuhlm_sim.outputs.writer as writer

    def boom(columns, path):
        path.write_bytes(b"half a parquet")
        raise OSError("disk full")

    scenario = write_scenario()
    out = tmp_path / "partial"
    before = None
    if force:
        run_ok(cli_runner, scenario, "--out", out, "-q")
        before = snapshot(out)
    monkeypatch.setattr(writer, "write_parquet", boom)
    args = ["run", str(scenario), "--out", str(out), "--log-tokens", "-q", "--seed", "3"]
    result = cli_runner.invoke(app, args + (["--force"] if force else []))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --out: cannot write") and "disk full" in result.stderr
    if force:
        assert snapshot(out) == before  # the previous result survives untouched
    else:
        assert not out.exists()
    assert no_temp_siblings(out)


# ---------------------------------------------------------------- traces synth


def test_traces_synth_round_trip(cli_runner, tmp_path):
    out = tmp_path / "sub" / "synth.parquet"
    result = cli_runner.invoke(app, ["traces", "synth", str(out), "--rows", "500", "--seed", "3"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Traceback" not in result.output
    assert f"wrote {out} (500 rows)" in flat(result.stdout)
    trace = load_trace(out)
    assert trace.num_rows == 500
    assert trace.uncertainty.shape == (500,) and trace.accepted.shape == (500,)
    assert trace.uncertainty.min() >= 0.0 and trace.uncertainty.max() <= 1.0
    assert trace.vocab_size == 151_936
    assert trace.files == ((str(out), hashlib.sha256(out.read_bytes()).hexdigest()),)
    assert not [p for p in out.parent.iterdir() if p.name != "synth.parquet"]


def test_traces_synth_output_runs(cli_runner, write_scenario, tmp_path):
    trace = tmp_path / "synth.parquet"
    r = cli_runner.invoke(
        app, ["traces", "synth", str(trace), "--rows", "500", "--vocab-size", "64"]
    )
    assert r.exit_code == 0, r.output
    out = tmp_path / "run"
    run_ok(cli_runner, write_scenario(trace={"path": str(trace)}), "--out", out, "-q")
    s = read_json(out / "summary.json")
    assert s["tokens_generated"] > 0
    if s["transmission_rate"]:
        assert s["uplink_bits_per_transmission"] == 64 * (8 + 6)


def test_manifest_lists_the_prompts_a_bootstrap_run_replayed(cli_runner, tmp_path):
    """--set trace.resample_prompts=true: the manifest names the drawn prompts in replay order
    (their rows laid end to end are the replayed trace: tokens.parquet's trace_row indexes
    it), the summary counts them, and a run without it says null and false."""
    import pandas as pd
    import yaml

    from tests.conftest import REAL_TRACE

    scenario = tmp_path / "s.yaml"
    data = {
        "duration_s": 1.0,
        "warmup_s": 0.0,
        "devices": {"count": 2, "slm_latency_s": 0.01},
        "server": {"llm_latency_s": 0.01},
        "trace": {"path": str(REAL_TRACE)},
    }
    scenario.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "on"
    run_ok(
        cli_runner,
        scenario,
        "--out",
        out,
        "--log-tokens",
        "--quiet",
        "--seed",
        "5",
        "--set",
        "trace.resample_prompts=true",
    )
    manifest, summary = read_json(out / "manifest.json"), read_json(out / "summary.json")
    drawn = manifest["trace"]["prompt_draw"]
    assert manifest["config"]["trace"]["resample_prompts"] is True
    assert (
        manifest["trace"]["prompt_draw_sha256"]
        == hashlib.sha256("\n".join(drawn).encode()).hexdigest()
    )
    assert summary["trace_prompt_counts"] == dict(pd.Series(drawn).value_counts())
    raw = pd.read_parquet(REAL_TRACE, columns=["prompt_id", "u_count"])
    replayed = pd.concat([raw[raw["prompt_id"] == p] for p in drawn], ignore_index=True)
    tokens = pq.read_table(out / "tokens.parquet").to_pandas()
    limit = math.floor(0.081 * 20 + 1e-9)  # the default u_th on the K = 20 grid
    u_count = replayed["u_count"].to_numpy()[tokens["trace_row"].to_numpy()]
    assert np.array_equal(tokens["sent"].to_numpy(), u_count > limit)
    off = tmp_path / "off"
    run_ok(cli_runner, scenario, "--out", off, "--quiet")
    manifest, summary = read_json(off / "manifest.json"), read_json(off / "summary.json")
    assert manifest["trace"]["prompt_draw"] is None
    assert manifest["config"]["trace"]["resample_prompts"] is False
    assert summary["trace_prompt_counts"] is None
