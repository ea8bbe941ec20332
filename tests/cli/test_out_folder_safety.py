"""--out never deletes what the user put there; --force replaces only earlier results."""

from __future__ import annotations

from cuhlm_sim.cli import app


def test_force_refuses_a_folder_with_the_users_files(cli_runner, write_scenario, tmp_path):
    scn, out = write_scenario(), tmp_path / "mine"
    out.mkdir()
    (out / "mydata.txt").write_text("precious", encoding="utf-8")
    for extra in ([], ["--force"]):
        res = cli_runner.invoke(app, ["run", str(scn), "--out", str(out), *extra])
        assert res.exit_code == 2, res.output
        err = res.stderr.strip()
        assert len(err.splitlines()) == 1 and "did not write" in err and "mydata.txt" in err
    assert (out / "mydata.txt").read_text(encoding="utf-8") == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["mydata.txt"]


def test_force_replaces_earlier_results(cli_runner, write_scenario, tmp_path):
    scn, out = write_scenario(), tmp_path / "r"
    assert cli_runner.invoke(app, ["run", str(scn), "--out", str(out)]).exit_code == 0
    assert (out / ".cuhlm-result").is_file()
    again = cli_runner.invoke(app, ["run", str(scn), "--out", str(out)])
    assert again.exit_code == 2 and "already holds results" in again.stderr
    forced = cli_runner.invoke(app, ["run", str(scn), "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert (out / "summary.json").is_file() and (out / ".cuhlm-result").is_file()
