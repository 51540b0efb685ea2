"""Publishing a finished demo re-runs nothing: the stage cache's keys hold no org and no working directory.

Stand-in stages (the real stage runner, keys, markers and demo driver), so this takes a second; the stages
themselves are tested in tests/test_experiment_pns.py and tests/test_demo.py."""

import json
from pathlib import Path

import pytest

from pns_hub import hub
from pns_hub.experiments import demo
from pns_hub.experiments import demo_stages as st


@pytest.fixture
def stand_in_stages(monkeypatch):
    calls = []

    def made(folder, name, card=""):
        calls.append(name)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text("{}")
        (folder / "README.md").write_text(card or f"# {name}\n")
        (folder / "leaderboard.md").write_text("")
        return {"folder": str(folder)}

    def fake_eval(model, problems, max_tokens, seed):
        calls.append(f"eval {Path(model).name}")
        return {"per_problem": {"p0": 1, "p1": 0}, "accuracy": {"value": 0.5, "low": 0.1, "high": 0.9, "n": 2},
                "truncated": 0}

    monkeypatch.setattr(st, "stage_warmup", lambda model, n, mb, seed, folder, hub_id: made(folder, "warmup"))
    monkeypatch.setattr(st, "stage_reward_model", lambda b, s, folder, *a: {**made(folder, "rm"), "metrics": {}})
    monkeypatch.setattr(demo, "_generator", lambda cfg, b, folder, *a: made(folder, "generator"))
    monkeypatch.setattr(st, "stage_negatives", lambda b, s, folder, *a: {
        **made(folder, "negatives"), "generator": {}, "generator_md": "", "table_md": "", "selection": {}})
    monkeypatch.setattr(st, "stage_dpo", lambda b, s, out, dataset, source, policy, hub_id, data_id: made(
        out, f"dpo {Path(out).name}", f"---\nbase_model: {policy}\ndatasets:\n- {data_id}\n---\n# {hub_id}\n"))
    monkeypatch.setattr(st, "stage_eval", fake_eval)
    monkeypatch.setattr(demo, "_leaderboard", lambda folder, records, *a: {
        **made(folder, "board", "\n".join(r.model for _, r in records)), "markdown": "", "png": ""})
    monkeypatch.setattr(demo, "final_table", lambda summary: "")
    return calls


def test_publishing_a_finished_demo_from_another_directory_reruns_nothing(tmp_path, monkeypatch, stand_in_stages):
    budget = demo.Budget.preset("tiny")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    demo.run_demo(demo.DemoConfig(output_dir="outputs/demo"), budget)
    assert "warmup" in stand_in_stages and any(c.startswith("dpo") for c in stand_in_stages)

    pushed = []
    monkeypatch.setattr(hub, "push_folder", lambda folder, repo_id, repo_type="model", **kw: pushed.append(
        (Path(folder).name, repo_id, repo_type)) or f"https://hf.co/{repo_id}")
    monkeypatch.chdir(tmp_path / "b")  # the same run, named by its absolute path from elsewhere, now published
    stand_in_stages.clear()
    root = tmp_path / "a" / "outputs" / "demo"
    summary = demo.run_demo(demo.DemoConfig(output_dir=str(root), org="myorg", push_to_hub=True), budget)
    assert stand_in_stages == [], f"re-ran {stand_in_stages}"
    assert sorted(summary["reused_stages"]) == sorted(p.stem for p in (root / "stages").glob("*.json"))
    # every artifact the records name is published (the DPO models too), under the org the push names
    repos = {repo_id for _, repo_id, _ in pushed}
    assert {"myorg/pns-negatives", "myorg/pns-results", "myorg/smollm2-135m-pns-dpo-seed0"} <= repos
    card = (root / "hub" / "smollm2-135m-pns-dpo-seed0" / "README.md").read_text()
    assert "myorg/pns-negatives" in card and "local/" not in card
    assert "myorg/smollm2-135m-pns-dpo-seed0" in (root / "hub" / "pns-results" / "README.md").read_text()


def test_stage_keys_and_results_do_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    from pns_hub.experiments.stages import StageRunner

    monkeypatch.chdir(tmp_path)
    out = Path("run")
    first = StageRunner(out).run("s", {"folder": str(out / "x")}, lambda: {"folder": str(out / "x")}, [out / "x"])
    (out / "x").mkdir(parents=True, exist_ok=True)
    runner = StageRunner(out)
    runner.run("s", {"folder": str(out / "x")}, lambda: {"folder": str(out / "x")}, [out / "x"])
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    again = StageRunner(tmp_path / "run")
    result = again.run("s", {"folder": str(tmp_path / "run" / "x")}, lambda: pytest.fail("re-ran"), [])
    assert again.reused == ["s"] and Path(result["folder"]).resolve() == (tmp_path / "run" / "x")
    assert json.loads((tmp_path / "run" / "stages" / "s.json").read_text())["result"] == {
        "folder": "<stage-root>/x"} and first == {"folder": "run/x"}
