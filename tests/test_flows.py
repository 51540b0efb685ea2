"""The user's flows, end to end, on the demo's own artifacts: the demo's chain at its smallest size (the tiny random
model, ``--budget tiny`` with two negative sources), its ``hub/`` folder moved elsewhere, then what a user does with
it: load the negatives with ``datasets``, read every card with ``huggingface_hub``, and ``pns-hub reproduce`` the
published evaluations: identical scores, problems and text digests; a swapped model folder fails.

Every trainer, the verifier, synthesis, the stage runner and the statistics are the real ones; only our batched
sampler is scripted (a random 2-layer model never writes a boxed answer, so the chain would stop at the RM), and its
text carries a fingerprint of the model's weights, so that, as with a real model, other weights write other text."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from pns_hub.engines import generation
from pns_hub.engines.generation import Completion


pytestmark = pytest.mark.slow


def _fingerprint(model) -> str:
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return "".join(chr(ord("a") + int(c, 16)) for c in digest.hexdigest()[:8])  # letters: no stray numbers


def _scripted(answers: dict[str, str]):
    def generate(model, tokenizer, prompts, params=None, batch_size=32, progress=True, desc="generate"):
        params = params or generation.SamplingParams()
        weights = _fingerprint(model)
        out = []
        for prompt in prompts:
            text = prompt[-1]["content"] if isinstance(prompt, list) else prompt
            answer = next((a for p, a in answers.items() if p in text), "7")
            number = int(answer) if answer.lstrip("-").isdigit() else 7
            out.append([Completion(f"We add the numbers step by step (model {weights}). The result is "
                                   f"\\boxed{{{number + j}}}.", 20, False) for j in range(params.num_samples)])
        return out

    return generate


@pytest.fixture(scope="module")
def moved_hub(tmp_path_factory, tiny_causal_lm_path):
    from dataclasses import replace

    from pns_hub.experiments import demo
    from pns_hub.data.problems import load_problems

    rows = load_problems("testbed_train")[:200] + load_problems("testbed")[:50]
    patch = pytest.MonkeyPatch()
    patch.setattr(generation, "generate", _scripted({r["problem"]: r["answer"] for r in rows}))
    try:
        root = tmp_path_factory.mktemp("run")
        budget = replace(demo.Budget.preset("tiny"), dpo_sources=("pns", "rejection_sampling"), dpo_seeds=(0,))
        summary = demo.run_demo(demo.DemoConfig(output_dir=str(root / "outputs" / "demo"), model=tiny_causal_lm_path),
                                budget)
        assert set(summary["evals"]) == {"base", "pns", "rejection_sampling"}
        moved = Path(shutil.copytree(root / "outputs" / "demo" / "hub", tmp_path_factory.mktemp("moved") / "hub"))
        shutil.rmtree(root)  # nothing of the run is left but the published folders
        yield moved
    finally:
        patch.undo()


@pytest.fixture
def scripted(monkeypatch):
    from pns_hub.data.problems import load_problems

    rows = load_problems("testbed")[:50]
    monkeypatch.setattr(generation, "generate", _scripted({r["problem"]: r["answer"] for r in rows}))


def test_the_negatives_load_with_datasets(moved_hub):
    from datasets import load_dataset

    pairs = load_dataset(str(moved_hub / "pns-negatives"), "pns", split="train")
    assert len(pairs) >= 1 and {"prompt", "chosen", "rejected"} <= set(pairs.column_names)


def test_every_card_loads_with_its_metadata(moved_hub):
    from huggingface_hub import DatasetCard, ModelCard

    from tests.hub_fake import metadata_errors

    for readme in sorted(moved_hub.glob("*/README.md")):
        kind = "dataset" if (readme.parent / "data").is_dir() or readme.parent.name == "pns-results" else "model"
        card = (DatasetCard if kind == "dataset" else ModelCard).load(readme)
        assert card.data.to_dict().get("license"), f"{readme}: no metadata"
        assert metadata_errors(readme.read_text(), kind) == [], readme


def test_the_moved_artifacts_reproduce_exactly_and_a_swap_fails(moved_hub, tmp_path, scripted):
    from pns_hub.eval import reproduce

    same = reproduce.reproduce("local", tmp_path / "same", local_root=moved_hub)
    assert same["mismatches"] == 0, reproduce.diff_markdown(same["rows"])
    published = {r["model"] for r in same["rows"]}
    assert {"local/smollm2-135m-pns-dpo", "local/smollm2-135m-rejection-sampling-dpo"} <= published
    assert all(r["same_predictions"] for r in same["rows"] if r["benchmark"] == "testbed")

    swapped = moved_hub.parent / "swapped"
    shutil.copytree(moved_hub, swapped)
    target = swapped / "smollm2-135m-pns-dpo"

    def weights(folder):
        return b"".join(p.read_bytes() for p in sorted(folder.glob("*.safetensors")))

    # another model of the same run, with other weights, in the DPO model's folder
    other = next((f for f in ("smollm2-135m-rejection-sampling-dpo", "smollm2-135m-testbed-sft", "pns-generator")
                  if weights(swapped / f) != weights(target)), None)
    print({f.name: hashlib.sha256(weights(f)).hexdigest()[:8] for f in swapped.iterdir() if f.is_dir()})
    assert other, "every model of the run has the same weights"
    for path in target.glob("*.safetensors"):
        path.unlink()
    for path in (swapped / other).glob("*.safetensors"):
        shutil.copy2(path, target / path.name)
    result = reproduce.reproduce("local", tmp_path / "swapped", local_root=swapped)
    bad = [r for r in result["rows"] if not r["ok"]]
    assert [r["model"] for r in bad] == ["local/smollm2-135m-pns-dpo"], reproduce.diff_markdown(result["rows"])
    assert json.loads((tmp_path / "swapped" / "diff.json").read_text()) == result["rows"]


def test_the_readme_flows_run_as_written(moved_hub, tmp_path):
    """The README's runnable commands that use the demo's artifacts, run as written (in a folder where
    ``outputs/demo/hub`` is the moved copy): load the negatives, the DPO recipe, lighteval and ``pns-hub eval``.
    ``make`` and the ``--help`` lines are checked in tests/test_readme.py; reproduce above (its text is scripted)."""
    import os
    import subprocess
    import sys

    from tests.test_readme import ALL, ROOT

    work = tmp_path / "clone"
    (work / "outputs" / "demo").mkdir(parents=True)
    for name in ("recipes", "pns_hub", "model_cards"):
        (work / name).symlink_to(ROOT / name)
    (work / "outputs" / "demo" / "hub").symlink_to(moved_hub)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PNS_HUB_GENERATE_BACKEND": "compact"}
    ran = []
    for command in ALL:
        if command.startswith(("make", "cp ", "pns-hub reproduce")) or command.endswith("--help"):
            continue
        if command.startswith("python "):
            command = command.replace("python ", f"{sys.executable} ", 1)
        out = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, f"{command}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
        ran.append(command.split()[0])
    assert len(ran) == 4, ran
    assert (work / "outputs" / "demo" / "dpo-recipe" / "README.md").is_file()
    assert list((work / "outputs" / "eval" / "leaderboard").glob("*.json"))
