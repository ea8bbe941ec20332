"""Energy accounts beyond the closed forms. The M/D/1 wait, Little's law (HLM and U-HLM) and the
single-device energy account are cases of the validation table, run by
test_closed_form_table.py."""

from __future__ import annotations


def test_skipping_saves_device_energy(simulate):
    common = {"devices": {"count": 5}, "payload": {"vocab_size": 32_000}}
    hlm = simulate(policy={"kind": "hlm"}, **common)
    uhlm = simulate(policy={"kind": "uhlm"}, **common)
    assert uhlm["device_energy_per_token_j"] < hlm["device_energy_per_token_j"]
    assert uhlm["system_energy_per_token_j"] < hlm["system_energy_per_token_j"]
