"""Negatives synthesis end to end on real (tiny) models: schema, card, verified pairs, resume, processes, push, DPO."""

import dataclasses
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pns_hub.engines import generation

from pns_hub.synthesis import baselines as negatives

from pns_hub.synthesis import run as synthesize

from pns_hub.grading import verify
from tests.hub_fake import FakeHub, metadata_errors


REPO_ROOT = Path(__file__).resolve().parent.parent
N_PROBLEMS = 6


def make_boxed_lm(folder, tokenizer_path, steps=80, seed=0):
    """A 2-layer Llama trained for a few seconds to answer like a (bad) solver: a sentence, then ``\\boxed{n}``.

    Random-init models never write a boxed answer, so nothing would verify wrong; this real, tiny, trained model
    writes well-formed answers with random numbers, i.e. mostly wrong ones and sometimes right ones.
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_path)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      tie_word_embeddings=True, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id)
    model = LlamaForCausalLM(cfg)
    # Train on whole chat transcripts of the very prompts the tests use, so after a real prompt the model answers.
    from pns_hub.data import problems as data
    problems = [r["problem"] for r in data.load_problems("gsm8k_train", limit=N_PROBLEMS)]
    seqs = []  # (token ids, index where the response starts)
    for i in range(32):
        n = rng.randint(1, 20)
        resp = f"We add up all the amounts step by step. The total is {n}. The final answer is \\boxed{{{n}}}."
        prompt = generation.build_prompt(problems[i % len(problems)])
        head = tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        full = tok.apply_chat_template(prompt + [{"role": "assistant", "content": resp}], tokenize=False)
        seqs.append((tok(full, add_special_tokens=False)["input_ids"], len(tok(head, add_special_tokens=False)["input_ids"])))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for step in range(steps):
        batch = [seqs[(step * 8 + i) % len(seqs)] for i in range(8)]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((len(batch), width), tok.pad_token_id)
        mask = torch.zeros_like(ids)
        for row, (tokens, _) in enumerate(batch):
            ids[row, :len(tokens)], mask[row, :len(tokens)] = torch.tensor(tokens), 1
        hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
        # The 49k-vocab head dominates the cost: apply it to response positions only (the prompt needs no loss).
        pos = [(row, t) for row, (tokens, start) in enumerate(batch) for t in range(start - 1, len(tokens) - 1)]
        rows_, cols = torch.tensor([p[0] for p in pos]), torch.tensor([p[1] for p in pos])
        logits = model.lm_head(hidden[rows_, cols])
        loss = torch.nn.functional.cross_entropy(logits, ids[rows_, cols + 1])
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def boxed_lm_path(tmp_path_factory, embedded_model_path):
    return make_boxed_lm(tmp_path_factory.mktemp("boxed-lm"), embedded_model_path)


@pytest.fixture(scope="session")
def tiny_rm_path(tmp_path_factory, embedded_model_path):
    """A random-init 2-layer Llama sequence classifier (num_labels=1): a real RM forward pass, seconds to build."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    tok = AutoTokenizer.from_pretrained(embedded_model_path)
    torch.manual_seed(1)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, num_labels=1, pad_token_id=tok.pad_token_id)
    folder = tmp_path_factory.mktemp("tiny-rm")
    LlamaForSequenceClassification(cfg).save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return str(folder)


def base_config(out, model_path, **kw) -> synthesize.SynthesisConfig:
    fields = dict(output_dir=str(out), dataset="gsm8k_train", limit=N_PROBLEMS, generator=model_path,
                  policy=model_path, instruct_model=model_path, num_samples=4, max_new_tokens=40, temperature=1.0,
                  top_p=1.0, shard_size=2, batch_size=16, verify_workers=0, progress=False, dtype="float32")
    fields.update(kw)
    return synthesize.SynthesisConfig(**fields)


@pytest.fixture(scope="session")
def rm_scorer(tiny_rm_path):
    from pns_hub.rewards.reward_model import RewardModelScorer

    return RewardModelScorer(tiny_rm_path, dtype="float32")


@pytest.fixture(scope="session")
def built(tmp_path_factory, boxed_lm_path, rm_scorer):
    os.environ.setdefault("PNS_HUB_THREADS", "1")
    config = base_config(tmp_path_factory.mktemp("ds") / "pns-negatives", boxed_lm_path)
    folder = synthesize.synthesize_dataset(config, rm_scorer=rm_scorer)
    return config, folder


# Configs that may legitimately come out empty on the fixture, and why. Every other config must have rows: a DPO
# test that skipped an empty config silently would pass on a run that produced nothing.
MAY_BE_EMPTY = {
    negatives.PROMPTED_WRONG: "the fixture's boxed LM was trained on the solver prompt only; asked (out of "
                              "distribution) to write a wrong solution it need not produce a verified-wrong, "
                              "well-formed answer",
}


def _written_configs(rows):
    """The configs the folder must declare: every non-empty one. An empty config is allowed only where
    ``MAY_BE_EMPTY`` says why (a CI machine of the other CPU kind got no prompted_wrong row where this one got
    some), and then it must be left out of the card's configs: ``datasets`` cannot load a 0-row config."""
    empty = {name for name, data in rows.items() if not data}
    assert empty <= set(MAY_BE_EMPTY), f"configs with no rows: {sorted(empty - set(MAY_BE_EMPTY))}"
    return set(rows) - empty


def _load_all(folder, names=negatives.SOURCES):
    """Every config's rows, read from its parquet files: ``datasets`` refuses to load a config with 0 rows
    ("Instruction 'train' corresponds to no data"), and prompted_wrong may be empty here (see ``MAY_BE_EMPTY``)."""
    import pyarrow.parquet as pq

    return {n: [row for path in sorted((Path(folder) / "data" / n).glob("*.parquet"))
                for row in pq.read_table(path).to_pylist()] for n in names}


def test_all_four_configs_load_with_schema_and_valid_card(built):
    config, folder = built
    rows = _load_all(folder)
    assert rows["pns"] and rows["rejection_sampling"] and rows["perturbed"], {k: len(v) for k, v in rows.items()}
    expected = set(synthesize.features())
    for name, data in rows.items():
        for row in data:
            assert set(row) == expected
            assert row["negative_source"] == name
            assert row["prompt"] == generation.build_prompt(row["problem"])
            assert [m["role"] for m in row["chosen"]] == ["assistant"] == [m["role"] for m in row["rejected"]]
            assert json.loads(row["sampling_params"])  # a JSON string
            assert row["rm_chosen"] is not None and row["rm_rejected"] is not None  # RM configured
            assert row["judge_rejected"] is None  # judge disabled -> null, not a made-up number
    readme = (folder / "README.md").read_text()
    meta = yaml.safe_load(readme.split("---\n")[1])
    assert {c["config_name"] for c in meta["configs"]} == _written_configs(rows)
    assert {i["config_name"] for i in meta["dataset_info"]} == _written_configs(rows)
    assert meta["license"] == "mit" and meta["source_datasets"] == ["openai/gsm8k"]
    assert "DPOTrainer" in readme and "RM prefers negative" in readme and "| pns |" in readme
    assert (folder / "plausibility.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The models were local folders with no Hub id: columns and card name them without their path, which appears
    # only in the card's build note.
    ids = {r["generator_id"] for data in rows.values() for r in data}
    assert ids == {f"unpublished local model '{Path(config.generator).name}'", "pns_hub.synthesis.baselines.perturb_solution"}
    assert [line for line in readme.splitlines() if config.generator in line] == [
        next(line for line in readme.splitlines() if line.startswith("- Build notes"))]
    from huggingface_hub import DatasetCard

    from pns_hub import hub
    assert hub.dataset_card_problems(readme, folder) == []  # huggingface_hub + datasets parsers, files resolve
    assert metadata_errors(readme, "dataset") == []  # and the fake Hub's rules
    assert DatasetCard(readme).data.pretty_name == config.pretty_name


def test_every_rejected_is_wrong_and_every_chosen_is_right(built):
    _, folder = built
    rows = [r for data in _load_all(folder).values() for r in data]
    rejected = verify.verify_batch([r["rejected"][0]["content"] for r in rows], [r["gold_answer"] for r in rows], 0)
    chosen = verify.verify_batch([r["chosen"][0]["content"] for r in rows], [r["gold_answer"] for r in rows], 0)
    assert all(v.is_wrong for v in rejected)
    assert all(v.is_correct for v in chosen)
    pns = [r for r in rows if r["negative_source"] == "pns"]
    assert all(r["rejected_format_ok"] for r in pns)  # PNS keeps well-formed negatives only
    # most plausible: the kept PNS negative has the highest composite among its problem's candidates
    assert all(r["selection"] == "most_plausible:composite" and r["plausibility"] is not None for r in pns)


def test_resume_after_kill_equals_uninterrupted_run(built, tmp_path, rm_scorer):
    config, folder = built
    resumed = dataclasses.replace(config, output_dir=str(tmp_path / "resumed"))

    class Killed(RuntimeError):
        pass

    def kill_after_second(index):
        if index == 1:
            raise Killed

    with pytest.raises(Killed):
        synthesize.synthesize_dataset(resumed, rm_scorer=rm_scorer, after_shard=kill_after_second)
    manifest = synthesize.read_manifest(Path(resumed.output_dir) / synthesize.WORK_DIR)
    assert sorted(manifest["completed"]) == ["0", "1"]
    calls = []
    synthesize.synthesize_dataset(resumed, rm_scorer=rm_scorer, after_shard=calls.append)
    assert calls == [2]  # only the unfinished shard ran
    assert _load_all(resumed.output_dir) == _load_all(folder)
    # a changed config must not silently mix with old shards
    with pytest.raises(RuntimeError, match="another config"):
        synthesize.synthesize_dataset(dataclasses.replace(resumed, seed=1), rm_scorer=rm_scorer)


def test_resume_refuses_shards_of_a_model_retrained_in_place_or_another_backend(tmp_path, tiny_causal_lm_path):
    """The manifest hash covers the models' content and the backend, not just their spec strings."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    policy = tmp_path / "policy"
    shutil.copytree(tiny_causal_lm_path, policy)
    config = base_config(tmp_path / "out", str(policy), sources=["perturbed"], limit=2, num_samples=1,
                         max_new_tokens=4, shard_size=1)  # the policy samples the on-policy chosen side
    synthesize.synthesize_dataset(config)
    calls = []
    synthesize.synthesize_dataset(config, after_shard=calls.append)
    assert calls == []  # unchanged: every shard reused
    with pytest.raises(RuntimeError, match="another config"):
        synthesize.synthesize_dataset(dataclasses.replace(config, backend="vllm"))
    model = AutoModelForCausalLM.from_pretrained(policy)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.01)
    model.save_pretrained(policy, safe_serialization=True)  # "retrained" into the same folder
    with pytest.raises(RuntimeError, match="another config"):
        synthesize.synthesize_dataset(config)


def test_malformed_and_duplicate_problems_are_reported(tmp_path):
    good = [{"id": f"p{i}", "problem": f"Tom has {i + 2} apples and buys {i + 3} more. How many now?",
             "answer": str(2 * i + 5), "solution": f"Tom has {i + 2} + {i + 3} = {2 * i + 5} apples.\n#### {2 * i + 5}"}
            for i in range(3)]
    lines = [json.dumps(r) for r in good] + [
        json.dumps({"id": "bad1", "problem": "", "answer": "3"}),  # empty problem
        json.dumps({"id": "bad2", "problem": "What is 1+1?"}),  # no answer
        json.dumps(good[0] | {"id": "dup"}),  # same text as p0
    ]
    path = tmp_path / "problems.jsonl"
    path.write_text("\n".join(lines) + "\n")
    config = synthesize.SynthesisConfig(output_dir=str(tmp_path / "out"), dataset=str(path), limit=None,
                                        sources=["perturbed"], chosen_from_policy=False, verify_workers=0,
                                        progress=False)
    folder = synthesize.synthesize_dataset(config)
    rejected = [json.loads(l) for l in (folder / synthesize.REJECTED_FILE).read_text().splitlines()]
    reasons = sorted((r["reason"], r.get("line")) for r in rejected)
    assert [r for r, _ in reasons] == ["duplicate", "malformed", "malformed"]
    assert "3 input problems rejected" in (folder / "README.md").read_text()
    rows = _load_all(folder, ["perturbed"])["perturbed"]
    assert sorted(r["problem_id"] for r in rows) == ["problems/p0", "problems/p1", "problems/p2"]


def test_push_uploads_the_folder_in_one_commit_and_it_loads_the_same(built, tmp_path, online, monkeypatch):
    import httpx
    from huggingface_hub import DatasetCard, repocard

    _, folder = built
    with FakeHub() as fake:
        synthesize.push(folder, "org/pns-negatives", endpoint=fake.endpoint, token="hf_fake")
        # DatasetCard.validate posts to huggingface.co itself: send that one request to the fake instead.
        monkeypatch.setattr(repocard, "get_session", lambda: type("Session", (), {"post": staticmethod(
            lambda url, **kw: httpx.post(url.replace("https://huggingface.co", fake.endpoint), **kw))})())
        DatasetCard((folder / "README.md").read_text()).validate()
    assert [v["errors"] for v in fake.validated] == [[], []]  # the push's own check and validate()
    assert len(fake.commits) == 1 and fake.repos["org/pns-negatives"]["type"] == "dataset"
    files = fake.commits[0]["files"]
    assert not any(p.startswith(synthesize.WORK_DIR) for p in files)  # shards/manifest stay local
    written = {p.split("/")[1] for p in files if p.startswith("data/")}
    assert written == _written_configs(_load_all(folder))  # every non-empty config, no empty one
    assert {f"data/{s}/train-00000-of-00001.parquet" for s in written} <= set(files)
    remote = tmp_path / "org--pns-negatives"  # what load_dataset("org/pns-negatives") would download
    for name, content in files.items():
        (remote / name).parent.mkdir(parents=True, exist_ok=True)
        (remote / name).write_bytes(content)
    assert _load_all(remote) == _load_all(folder)


@pytest.mark.parametrize("name", negatives.SOURCES)
def test_one_dpo_step_on_every_config(built, tiny_causal_lm_path, tmp_path, name):
    from datasets import load_dataset
    from trl import DPOConfig, DPOTrainer

    from pns_hub import models
    _, folder = built
    if not _load_all(folder, [name])[name]:  # checked first: datasets cannot load a 0-row config at all
        if name in MAY_BE_EMPTY:
            pytest.skip(f"config {name!r} is empty: {MAY_BE_EMPTY[name]}")
        pytest.fail(f"config {name!r} has no rows, but this synthesis run must produce some")
    data = load_dataset(str(folder), name, split="train")
    args = DPOConfig(output_dir=str(tmp_path / name), max_steps=1, per_device_train_batch_size=2,
                     max_length=256, report_to=[], use_cpu=True, bf16=False, save_strategy="no",
                     logging_steps=1)
    trainer = DPOTrainer(model=tiny_causal_lm_path, args=args,
                         train_dataset=data.select_columns(["prompt", "chosen", "rejected"]),
                         processing_class=models.load_tokenizer(tiny_causal_lm_path, padding_side="left"))
    result = trainer.train()
    assert result.global_step == 1 and result.training_loss == result.training_loss  # not NaN


@pytest.mark.slow
def test_two_processes_equal_one(built, tmp_path, tiny_rm_path):
    config, folder = built
    recipe = tmp_path / "synthesize.yaml"
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    fields.update(output_dir=str(tmp_path / "two"), reward_model=tiny_rm_path)
    recipe.write_text(yaml.safe_dump(fields))
    env = dict(os.environ, PNS_HUB_THREADS="1")
    one = dataclasses.replace(config, output_dir=str(tmp_path / "one"), reward_model=tiny_rm_path)
    # torchrun, not `accelerate launch --cpu` (whose CPU launcher starts a single process without MPI)
    cmd = [str(Path(sys.executable).parent / "torchrun"), "--nproc_per_node", "2",
           str(REPO_ROOT / "recipes" / "synthesize.py"), "--config", str(recipe)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = synthesize.read_manifest(tmp_path / "two" / synthesize.WORK_DIR)
    assert {e["rank"] for e in manifest["completed"].values()} == {0, 1}
    synthesize.synthesize_dataset(one)
    two_rows, one_rows = _load_all(tmp_path / "two"), _load_all(tmp_path / "one")
    assert sum(map(len, two_rows.values())) > 0, "no rows at all: the comparison below would be vacuous"
    assert two_rows == one_rows


def test_a_problem_synthesis_drops_is_named_in_the_card_and_the_rejected_file(tmp_path):
    """A word gold (``four``): no gold solution verifies against it, so the problem gets no pair; it must be named,
    with its reason, not only counted."""
    rows = [{"id": "p0", "problem": "Tom has 2 apples and buys 3 more. How many now?", "answer": "5",
             "solution": "Tom has 2 + 3 = 5 apples.\n#### 5"},
            {"id": "w", "problem": "Tom has 2 apples and buys 2 more. How many now?", "answer": "four",
             "solution": "Tom has 2 + 2 = 4 apples.\n#### 4"}]
    path = tmp_path / "problems.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = synthesize.SynthesisConfig(output_dir=str(tmp_path / "out"), dataset=str(path), limit=None,
                                        sources=["perturbed"], chosen_from_policy=False, verify_workers=0,
                                        progress=False)
    folder = synthesize.synthesize_dataset(config)
    kept = {r["problem_id"] for r in _load_all(folder, ["perturbed"])["perturbed"]}
    dropped = [json.loads(line) for line in (folder / synthesize.REJECTED_FILE).read_text().splitlines()]
    assert "problems/w" not in kept and "problems/w" in {d.get("problem_id") for d in dropped}
    assert all(d.get("reason") for d in dropped)
    card = (folder / "README.md").read_text()
    assert "problems/w" in card
    assert "unknown (user-supplied problems)" in card  # a file of unknown origin; a testbed slice is Apache-2.0


def test_a_testbed_slice_file_has_the_testbed_licence_and_the_card_describes_the_selection(tmp_path):
    from pns_hub.data import problems as data
    from pns_hub.synthesis import card as dataset_card

    path = tmp_path / "synthesis.jsonl"
    data.write_jsonl(path, data.load_problems("testbed_train", limit=3))
    assert dataset_card.source_license(str(path)) == "Apache-2.0"
    assert dataset_card.describe("rejection_sampling", "most_plausible").endswith("the most plausible of its k kept")
