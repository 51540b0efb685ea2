"""Reward-model scorer, preference-pair construction, and a real (tiny) centred-BT RewardTrainer run."""

import json
import shutil

import pytest
import yaml

from pns_hub.data import problems as data

from pns_hub.engines import generation

from pns_hub.rewards import reward_model
from tests.hub_fake import metadata_errors


PROBLEM = "Tom has 3 apples and buys 4 more. How many apples does he have?"
RIGHT = "He starts with 3 apples and buys 4 more, so 3 + 4 = 7.\n\nThe final answer is $\\boxed{7}$."
WRONG = "He starts with 3 apples and buys 4 more, so 3 + 4 = 8.\n\nThe final answer is $\\boxed{8}$."


@pytest.fixture(scope="module")
def scorer(tiny_causal_lm_path):
    return reward_model.RewardModelScorer(tiny_causal_lm_path, batch_size=2, dtype="float32")


def test_scores_are_batch_and_order_invariant(scorer):
    problems = [PROBLEM, PROBLEM, "What is 2 + 2?"]
    completions = [RIGHT, WRONG + " Extra words to change the length a lot here.", "2 + 2 = 4. \\boxed{4}"]
    batched = scorer.score(problems, completions)
    single = [scorer.score([p], [c])[0] for p, c in zip(problems, completions)]
    assert batched == pytest.approx(single, abs=1e-4)
    assert len(set(round(s, 5) for s in batched)) == 3  # different inputs, different scores
    with pytest.raises(ValueError):
        scorer.score([PROBLEM], [RIGHT, WRONG])


def test_squash_is_bounded_monotone_sigmoid(scorer):
    squashed = scorer.squash([-1000.0, -3.0, 0.0, 3.21, 1000.0])
    assert squashed[0] == pytest.approx(0.0, abs=1e-12) and squashed[-1] == pytest.approx(1.0)
    assert squashed[2] == 0.5 and squashed == sorted(squashed)
    assert squashed[3] == pytest.approx(0.9612, abs=1e-3)


def test_build_preference_pairs_uses_only_verified_sides():
    rows = [
        {"id": "a", "problem": PROBLEM, "answer": "7", "solution": RIGHT},
        {"id": "b", "problem": PROBLEM, "answer": "7", "solution": RIGHT},
        {"id": "c", "problem": PROBLEM, "answer": "7", "solution": ""},
        {"id": "d", "problem": PROBLEM, "answer": "7", "solution": RIGHT},
    ]
    samples = [["p-right", "p-wrong", "junk"], ["w1", "w2", "w3"], ["w"], ["junk"]]
    verdicts = [["correct", "wrong", "unparseable"], ["wrong", "wrong", "wrong"], ["wrong"], ["unparseable"]]
    pairs, stats = reward_model.build_preference_pairs(rows, samples, verdicts, max_pairs_per_problem=2)
    by_id = {}
    for p in pairs:
        by_id.setdefault(p["id"], []).append(p)
    assert by_id["a"][0]["chosen"][0]["content"] == "p-right" and by_id["a"][0]["chosen_source"] == "policy"
    assert by_id["a"][0]["rejected"][0]["content"] == "p-wrong"
    assert len(by_id["b"]) == 2 and all(p["chosen_source"] == "gold" for p in by_id["b"])
    assert {p["rejected"][0]["content"] for p in by_id["b"]} <= {"w1", "w2", "w3"}
    assert "c" not in by_id and "d" not in by_id  # no correct side / no verified-wrong sample
    assert stats["no_correct_side"] == 1 and stats["no_wrong_sample"] == 1 and stats["with_pairs"] == 2
    assert pairs[0]["prompt"][-1]["role"] == "user" and PROBLEM in pairs[0]["prompt"][-1]["content"]


def _wrong_version(solution: str, answer: str) -> str:
    wrong = str(int(float(answer)) + 3)
    return solution.replace(f"\\boxed{{{answer}}}", f"\\boxed{{{wrong}}}").replace(f" {answer} ", f" {wrong} ")


def _gold_pairs_file(rows, tmp_path):
    """Gold solution vs the same solution with its answer shifted, in the recipe's pair schema, written as JSONL."""
    pairs = [{"id": r["id"], "prompt": generation.build_prompt(r["problem"]), "problem": r["problem"],
              "answer": r["answer"], "chosen": [{"role": "assistant", "content": r["solution"]}],
              "rejected": [{"role": "assistant", "content": _wrong_version(r["solution"], r["answer"])}],
              "chosen_source": "gold"} for r in rows]
    pairs_path = tmp_path / "pairs.jsonl"
    pairs_path.write_text("\n".join(json.dumps(p) for p in pairs))
    return pairs, pairs_path


def test_reward_trainer_recipe_on_tiny_model(tmp_path, tiny_causal_lm_path, monkeypatch):
    """Real RewardTrainer (centred BT) on hand-built pairs: writes metrics JSON, card, and a loadable RM.

    In f32 throughout: on a CPU with native bf16 the trainer would score under bf16 autocast while the reloaded
    scorer below runs f32, and a tiny random RM's near-tied scores flip between the two (seen on an EPYC Zen 5: 0.5
    in the trainer, 1.0 reloaded), which says nothing about whether the saved folder is the evaluated RM."""
    from transformers import AutoModelForSequenceClassification
    from trl import ModelConfig

    from pns_hub.trainers.pns_configs import PNSRewardConfig, RewardModelScriptArguments

    monkeypatch.setenv("PNS_HUB_BF16", "0")

    rows = data.load_problems("gsm8k_train", limit=12)
    pairs, pairs_path = _gold_pairs_file(rows, tmp_path)
    script_args = RewardModelScriptArguments(dataset_limit=12, heldout_problems=4, pairs_path=str(pairs_path))
    training_args = PNSRewardConfig(output_dir=str(tmp_path / "rm"), center_rewards_coefficient=0.01, max_steps=2,
                                    per_device_train_batch_size=4, learning_rate=1e-4, gradient_checkpointing=False,
                                    report_to="none", save_strategy="no", logging_steps=1, max_length=512,
                                    hub_model_id="org/pns-rm", bf16=False)  # TRL turns bf16 on with a GPU
    base = tmp_path / "warm"  # a local base model whose card says where it is published
    shutil.copytree(tiny_causal_lm_path, base)
    (base / "README.md").write_text("---\nmodel_name: org/warm-sft\n---\n# warm-up\n")
    metrics = reward_model.train_reward_model(script_args, training_args, ModelConfig(model_name_or_path=str(base)))
    assert metrics["num_pairs"] == 4 and metrics["num_train_pairs"] == 8
    assert 0.0 <= metrics["pairwise_accuracy"] <= 1.0
    # the figure comes from RewardTrainer's own rewards, with a Wilson interval (the saved RM agrees, below)
    assert metrics["accuracy_source"].startswith("trl.RewardTrainer")
    from pns_hub.stats import wilson_interval

    assert (metrics["pairwise_accuracy_low"], metrics["pairwise_accuracy_high"]) == pytest.approx(
        wilson_interval(round(4 * metrics["pairwise_accuracy"]), 4))
    assert sum(v["n"] for v in metrics["accuracy_by_chosen_source_ci"].values()) == 4
    saved = json.loads((tmp_path / "rm" / "eval_results.json").read_text())
    assert saved["pairwise_accuracy"] == metrics["pairwise_accuracy"]
    card = (tmp_path / "rm" / "README.md").read_text()
    assert "centred Bradley-Terry" in card and f"{metrics['pairwise_accuracy']:.3f}" in card
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["base_model"] == "org/warm-sft" and header["model_name"] == "org/pns-rm"
    assert str(tmp_path) not in card.split("---\n")[1] and metadata_errors(card, "model") == []  # the Hub accepts it
    assert f"built from the local folder `{base}`" in card  # the path only as a build note
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "rm")
    assert model.config.num_labels == 1 and model.config.pad_token_id is not None
    _, held = data.split_problems(rows, 4, seed=0)
    held_pairs = [p for p in pairs if p["id"] in {r["id"] for r in held}]
    reloaded = reward_model.RewardModelScorer(str(tmp_path / "rm"), dtype="float32")
    again = reward_model.pairwise_accuracy(reloaded, held_pairs)
    assert again["pairwise_accuracy"] == metrics["pairwise_accuracy"]  # the saved folder is the evaluated RM
    assert again["mean_chosen_score"] == pytest.approx(metrics["mean_chosen_score"], abs=1e-3)
    assert again["problem_bootstrap_ci"] == metrics["problem_bootstrap_ci"]


def test_trainer_pair_rewards_unstack_trl_batches_pair_by_pair(tiny_causal_lm_path):
    """RewardTrainer's collator stacks each batch as [chosen rows; rejected rows]: unstacked with a batch size that does
    not divide n (batches 2, 2, 1), every reward equals the model's own score of that side's text."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardTrainer

    from pns_hub.trainers.pns_configs import PNSRewardConfig

    tokenizer = AutoTokenizer.from_pretrained(tiny_causal_lm_path)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_causal_lm_path, num_labels=1).eval()
    rows = data.load_problems("gsm8k_train", limit=5)
    pairs = [{"prompt": [{"role": "user", "content": r["problem"]}],
              "chosen": [{"role": "assistant", "content": r["solution"]}],
              "rejected": [{"role": "assistant", "content": "I think " * (3 * i + 1) + r["answer"]}]}
             for i, r in enumerate(rows)]
    args = PNSRewardConfig(output_dir="unused", per_device_eval_batch_size=2, report_to="none", max_length=512,
                           gradient_checkpointing=False, bf16=False)  # f32 like the scorer below, GPU or not
    trainer = RewardTrainer(model=model, args=args, processing_class=tokenizer, train_dataset=Dataset.from_list(pairs),
                            eval_dataset=Dataset.from_list(pairs))
    chosen, rejected = reward_model.trainer_pair_rewards(trainer, trainer.eval_dataset)

    def score(messages):
        ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
        with torch.no_grad():
            return model(input_ids=torch.tensor([ids], device=model.device)).logits[0, 0].item()

    assert chosen == pytest.approx([score(p["prompt"] + p["chosen"]) for p in pairs], abs=1e-4)
    assert rejected == pytest.approx([score(p["prompt"] + p["rejected"]) for p in pairs], abs=1e-4)


def test_pairs_longer_than_max_length_are_counted_in_metrics_and_card(tmp_path, tiny_causal_lm_path):
    """TRL's RewardTrainer drops over-long pairs silently; the recipe must say how many it lost."""
    from trl import ModelConfig

    from pns_hub.trainers.pns_configs import PNSRewardConfig, RewardModelScriptArguments

    rows = data.load_problems("gsm8k_train", limit=12)
    train, _ = data.split_problems(rows, 4, seed=0)
    long_ids = {r["id"] for r in train[:3]}
    pairs = []
    for r in rows:
        wrong = _wrong_version(r["solution"], r["answer"])
        if r["id"] in long_ids:  # a rambling negative far past the 512-token limit
            wrong = "Let me restate the problem carefully once more. " * 80 + wrong
        pairs.append({"id": r["id"], "prompt": [{"role": "user", "content": r["problem"]}], "problem": r["problem"],
                      "answer": r["answer"], "chosen": [{"role": "assistant", "content": r["solution"]}],
                      "rejected": [{"role": "assistant", "content": wrong}], "chosen_source": "gold"})
    pairs_path = tmp_path / "pairs.jsonl"
    pairs_path.write_text("\n".join(json.dumps(p) for p in pairs))
    script_args = RewardModelScriptArguments(dataset_limit=12, heldout_problems=4, pairs_path=str(pairs_path))
    training_args = PNSRewardConfig(output_dir=str(tmp_path / "rm"), max_steps=1, per_device_train_batch_size=4,
                                    gradient_checkpointing=False, report_to="none", save_strategy="no", max_length=512)
    metrics = reward_model.train_reward_model(script_args, training_args,
                                              ModelConfig(model_name_or_path=tiny_causal_lm_path))
    assert metrics["num_train_pairs_dropped_too_long"] == 3 and metrics["num_train_pairs"] == 5
    assert metrics["num_eval_pairs_too_long"] == 0
    card = (tmp_path / "rm" / "README.md").read_text()
    assert "Pairs: 5 train" in card and "3 train pair(s) with a\n  longer side were dropped" in card


def test_the_same_pairs_and_seed_give_the_same_reward_model(tmp_path, tiny_causal_lm_path):
    """The score head is new weights: drawn from whatever torch's RNG state was left by the sampling before, two runs
    on identical pairs trained different RMs (held-out 0.650 vs 0.594). Seeded, the RNG state before cannot matter."""
    import torch
    from safetensors.torch import load_file
    from trl import ModelConfig

    from pns_hub.trainers.pns_configs import PNSRewardConfig, RewardModelScriptArguments

    _, pairs_path = _gold_pairs_file(data.load_problems("gsm8k_train", limit=8), tmp_path)
    runs = []
    for run, state in enumerate((1, 2)):
        torch.manual_seed(state)  # a different RNG state left behind by whatever ran before
        script_args = RewardModelScriptArguments(dataset_limit=8, heldout_problems=3, pairs_path=str(pairs_path))
        training_args = PNSRewardConfig(output_dir=str(tmp_path / f"rm{run}"), max_steps=1, seed=5,
                                        per_device_train_batch_size=4, gradient_checkpointing=False,
                                        report_to="none", save_strategy="no", max_length=512)
        metrics = reward_model.train_reward_model(script_args, training_args,
                                                  ModelConfig(model_name_or_path=tiny_causal_lm_path))
        runs.append((metrics["mean_chosen_score"], load_file(tmp_path / f"rm{run}" / "model.safetensors")))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])
