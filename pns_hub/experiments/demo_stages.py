"""The stages of ``pns-hub demo`` (and ``pns-hub experiment pns``), one function each, on the testbed under the fair
protocol (:mod:`pns_hub.experiments.protocol`): warm-up, RM, generator and synthesis each train or sample on their own disjoint
slice of ``testbed_train``; every model is evaluated on the testbed test split.

Why the testbed and not the seven benchmarks: the 135M embedded model solves ~1% of GSM8K, so an RM, a generator and
DPO trained and scored there show nothing (issue #17); the warm-up model scores 20-70% greedy on the testbed.
Why :mod:`pns_hub.engines.generation` for evaluation and not lighteval: lighteval costs minutes per benchmark here; the
batched sampler + math-verify gives the same greedy accuracy in a fraction of the time, with per-problem results for
paired comparisons.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from pns_hub.data import problems as data
def parse(types, argv: list[str]):
    from trl import TrlParser

    return TrlParser(types).parse_args_and_config(args=argv)


def flags(settings: dict) -> list[str]:
    """A settings dict as the command-line flags the recipes accept (the same values a YAML recipe would set)."""
    argv = []
    for key, value in settings.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            argv += [f"--{key}", *map(str, value)]
        else:
            argv += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
    return argv


PAD_MULTIPLE = 64  # training batches padded to a multiple of this many tokens (see :func:`accumulate`)


def accumulate(batch: int, micro_batch: int) -> dict:
    """Trainer flags for optimizer steps of ``batch`` examples taken ``micro_batch`` at a time, padded to a multiple
    of :data:`PAD_MULTIPLE` tokens.

    Why micro-batches: a training step's activations and its logits (batch x length x vocabulary, f32) dominate a
    135M model's memory at batch 8 (the demo's DPO stage peaked at 7.2 GB); accumulating gradients over micro-batches
    keeps the optimizer step, the data order and the loss's normalisation, and bounds memory by ``micro_batch`` x
    length. Why the padding: oneDNN keeps a kernel (and its buffers) per matmul shape it has seen, so batches of
    every length grow the process step after step (measured: the warm-up's peak went from 3.9 GB at 32 examples to
    5.0 GB at 160); a few padded shapes keep that cache small. Padded positions are masked out of the loss.
    """
    if micro_batch < 1 or batch % micro_batch:
        raise ValueError(f"micro_batch={micro_batch} must be a positive divisor of the batch size {batch}")
    return {"per_device_train_batch_size": micro_batch, "gradient_accumulation_steps": batch // micro_batch,
            "pad_to_multiple_of": PAD_MULTIPLE}


def write_problem_files(sets, folder: Path) -> dict[str, str]:
    """Each role's problems as a JSONL file, so every recipe reads exactly its slice by path (``pns_hub.data.problems``)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for role, rows in sets.sets.items():
        path = folder / f"{role}.jsonl"
        data.write_jsonl(path, rows)
        paths[role] = str(path)
    return paths


def stage_warmup(model: str, examples: int, micro_batch: int, seed: int, folder: Path, hub_id: str) -> dict:
    """SFT on gold solutions of the protocol's warm-up slice (``testbed_train[0:examples]``): the DPO base."""
    from trl import ModelConfig

    from pns_hub.trainers.pns_configs import PNSSFTConfig
    from pns_hub.trainers.sft import SFTWarmupArguments, train_sft_warmup

    script, training, model_args = parse((SFTWarmupArguments, PNSSFTConfig, ModelConfig), flags({
        "model_name_or_path": model, "dataset_name": "testbed_train", "dataset_offset": 0, "dataset_limit": examples,
        "learning_rate": 5e-5, "lr_scheduler_type": "constant", "num_train_epochs": 1, **accumulate(8, micro_batch),
        "max_length": 512, "gradient_checkpointing": False, "logging_steps": 5, "save_strategy": "no",
        "report_to": "none", "seed": seed, "output_dir": str(folder), "hub_model_id": hub_id,
    }))
    return {"folder": train_sft_warmup(script, training, model_args)}


def stage_reward_model(budget, seed: int, folder: Path, policy: str, problems: str, hub_id: str,
                       **extra) -> dict:
    """Pairs of the policy's own samples (correct vs wrong by math-verify; gold only as a counted fallback) on the RM
    slice; held-out pairwise accuracy on problems the RM never trained on (RewardTrainer's accuracy + Wilson).
    ``extra``: more script flags (the learning curve's ``pairs_path`` and ``max_train_pairs``)."""
    from trl import ModelConfig

    from pns_hub.trainers.pns_configs import PNSRewardConfig, RewardModelScriptArguments
    from pns_hub.rewards.reward_model import train_reward_model

    script, training, model_args = parse((RewardModelScriptArguments, PNSRewardConfig, ModelConfig), flags({
        "model_name_or_path": policy, "dataset_name": problems, "dataset_limit": budget.rm_problems,
        "heldout_problems": budget.rm_heldout, "policy_model": policy, "num_samples": budget.rm_samples,
        "use_gold_fallback": budget.rm_gold_fallback,
        "max_new_tokens": budget.max_tokens, "sample_batch_size": 64, "center_rewards_coefficient": 0.01,
        "learning_rate": 2e-5, "num_train_epochs": budget.rm_epochs, **accumulate(8, budget.micro_batch),
        "max_length": 512, "gradient_checkpointing": False, "save_strategy": "no", "report_to": "none",
        "logging_steps": 5, "seed": seed, "output_dir": str(folder), "hub_model_id": hub_id, **extra,
    }))
    return {"folder": str(folder), "metrics": train_reward_model(script, training, model_args)}


def stage_generator(budget, seed: int, folder: Path, rm_folder: str, policy: str, judge: str, problems: str,
                    hub_id: str, callbacks=()) -> dict:
    """Reverse-RL GRPO from the policy with the composite reward (or, ``budget.gen_reward == "oracle"``, the step
    checker in place of RM + judge), on the generator slice."""
    from trl import ModelConfig

    from pns_hub.trainers.grpo import train_generator
    from pns_hub.trainers.pns_configs import PNSGeneratorScriptArguments, PNSGRPOConfig

    script, training, model_args = parse((PNSGeneratorScriptArguments, PNSGRPOConfig, ModelConfig), flags({
        "model_name_or_path": policy, "dataset_name": problems,
        "dataset_limit": budget.gen_steps * budget.gen_prompts_per_step, "holdout": 0,
        "reward_funcs": ["pns_oracle" if budget.gen_reward == "oracle" else "pns_composite"], "reward_weights": [1.0],
        "reward_model_path": rm_folder, "judge_model": judge, "composite_base": budget.composite_base,
        "composite_rm_weight": budget.composite_rm_weight, "composite_judge_weight": budget.composite_judge_weight,
        "reward_model_temperature": budget.rm_temperature, "learning_rate": budget.gen_learning_rate, "beta": 0.0,
        "num_generations": budget.gen_generations,
        # RM and judge loaded for each round's scoring only, not through the policy's backward (the stage's peak)
        "reward_models_resident": False,
        # one generation round of prompts x generations completions per optimizer step, trained micro_batch at a time
        **accumulate(budget.gen_generations * budget.gen_prompts_per_step, budget.micro_batch),
        "max_completion_length": budget.max_tokens, "temperature": 0.8, "max_steps": budget.gen_steps,
        "lr_scheduler_type": "constant", "gradient_checkpointing": False, "logging_steps": 1, "save_strategy": "no",
        "report_to": "none", "seed": seed, "output_dir": str(folder), "hub_model_id": hub_id,
    }))
    train_generator(script, training, model_args, callbacks=list(callbacks))
    return {"folder": str(folder)}


def stage_negatives(budget, seed: int, folder: Path, work: Path, generator: str, rm_folder: str, policy: str,
                    judge: str, problems: str, hub_id: str, sources=None, placebo: bool = False) -> dict:
    """Synthesis on the synthesis slice with every candidate kept (``rejected_choice="all"``, the same k and format
    filter for every source), then the fair pick (:mod:`pns_hub.synthesis.fair`): the most plausible of k for every
    source, same problems and chosen side; the card shows PNS vs RS under both rules and the generator's before/after.
    Figure 1 (:mod:`pns_hub.experiments.figure1`) is read from the picked pairs. ``placebo`` adds RS' (rejection
    sampling with another seed, :mod:`pns_hub.experiments.placebo`) as an arm of the fair pick, written to its own
    folder ``<folder>-placebo`` as config ``rejection_sampling``.
    """
    from pns_hub.experiments import figure1
    from pns_hub.experiments import placebo as rs_placebo
    from pns_hub.synthesis import card as dataset_card
    from pns_hub.synthesis import fair as fair_negatives
    from pns_hub.synthesis import report
    from pns_hub.engines.backends import fixed_model_backend
    from pns_hub.data.problems import load_problems
    from pns_hub.synthesis.run import SynthesisConfig, synthesize_dataset

    config = SynthesisConfig(
        generator=generator, policy=policy, instruct_model=policy, reward_model=rm_folder, judge_model=judge,
        dataset=problems, limit=None, num_samples=budget.synth_samples, max_new_tokens=budget.max_tokens,
        output_dir=str(work / "negatives-all-candidates"), seed=seed, batch_size=64, rejected_choice="all",
        # candidates ranked by the generator's own composite weights (the RM squash stays at T = 1 here)
        composite_base=budget.composite_base, composite_rm_weight=budget.composite_rm_weight,
        composite_judge_weight=budget.composite_judge_weight,
        hub_repo_id=hub_id, progress=True, **({"sources": list(sources)} if sources else {}),
        backend="openvino" if fixed_model_backend("float32") == "openvino" else "transformers")
    every = synthesize_dataset(config)
    candidates = report.load_folder(every)
    if absent := [s for s in config.sources if s not in candidates]:  # an empty source is not among the configs
        raise ValueError(f"{every}: {', '.join(absent)} produced no candidate at all; the fair protocol compares the "
                         "sources on the problems every source covers, so none would be left (sample more problems or "
                         "completions)")
    placebo_info = None
    if placebo:
        candidates[rs_placebo.PLACEBO], placebo_info = rs_placebo.placebo_candidates(config, seed, work, candidates)
    table = fair_negatives.plausibility_table(candidates, seed=seed)
    selected, selection = fair_negatives.fair_select(candidates, "most_plausible", seed=seed)
    fig1 = figure1.figure1(selected, seed=seed)
    gen_report = fair_negatives.generator_report(fair_negatives.sample_stats(every), candidates, seed=seed)
    published = replace(config, output_dir=str(folder), rejected_choice="most_plausible")
    folder.mkdir(parents=True, exist_ok=True)
    skipped = [{"problem_id": None, "source": source, "reason": "no valid well-formed negative (problem dropped from "
                "every source by the fair protocol)"}
               for source, count in selection["problems_lacking_a_negative_by_source"].items() for _ in range(count)]
    dataset_card.write_folder(published, selected, skipped, [], len(load_problems(problems)))
    table_md, gen_md = fair_negatives.markdown_table(table), fair_negatives.generator_markdown(gen_report)
    readme = folder / "README.md"
    readme.write_text(readme.read_text() + "\n## Fair protocol (issue #17)\n\nEvery source had the same k = "
                      f"{budget.synth_samples} candidates, the same format filter and the same selection rule; each "
                      "config holds the most plausible of its k per problem, on the same problems with the same chosen "
                      "response. PNS vs the baselines under both rules:\n\n" + table_md +
                      "\n## Generator before vs after GRPO (synthesis problems, held out from RM and generator)\n\n"
                      + gen_md)
    (folder / "fair_protocol.json").write_text(json.dumps({"table": table, "selection": selection,
                                                           "generator": gen_report, "figure1": fig1}, indent=1))
    out = {"folder": str(folder), "table": table, "table_md": table_md, "selection": selection,
           "generator": gen_report, "generator_md": gen_md, "figure1": fig1, "figure1_md": figure1.markdown(fig1)}
    if placebo:
        pfolder = folder.with_name(folder.name + "-placebo")
        pconfig = replace(rs_placebo.placebo_config(published, seed, work), output_dir=str(pfolder),
                          rejected_choice="most_plausible", hub_repo_id=f"{hub_id}-placebo")
        dataset_card.write_folder(pconfig, {s_: selected[rs_placebo.PLACEBO] for s_ in pconfig.sources}, [], [],
                                  len(load_problems(problems)))
        out.update(placebo_folder=str(pfolder), placebo=placebo_info)
    return out


def stage_dpo(budget, seed: int, folder: Path, dataset: str, source: str, policy: str, hub_id: str,
              dataset_hub_id: str) -> dict:
    """DPO from the warm-up model on one source's pairs; the same settings for every source."""
    from trl import ModelConfig

    from pns_hub.trainers.dpo import DPOScriptArguments, PNSDPOConfig, train_dpo

    script, training, model_args = parse((DPOScriptArguments, PNSDPOConfig, ModelConfig), flags({
        "model_name_or_path": policy, "dataset_name": dataset, "dataset_config": source,
        "method": {"pns": "pns-dpo", "rejection_sampling": "rs-dpo"}.get(source, f"{source}-dpo"),
        "beta": 0.1, "learning_rate": budget.dpo_learning_rate, "num_train_epochs": budget.dpo_epochs,
        **accumulate(8, budget.micro_batch), "max_length": 768,
        "precompute_ref_log_probs": True, "gradient_checkpointing": False, "logging_steps": 1, "save_strategy": "no",
        "report_to": "none", "seed": seed, "output_dir": str(folder), "dataset_hub_id": dataset_hub_id,
        "hub_model_id": hub_id,
    }))
    return {"folder": train_dpo(script, training, model_args)}


def _greedy_correct(model: str, rows: list[dict], max_tokens: int, seed: int) -> tuple[list[int], int]:
    """0/1 per row (math-verify on the greedy completion) and how many completions hit ``max_tokens``."""
    from pns_hub.eval import greedy

    out = greedy.evaluate(model, rows, max_tokens, seed)
    return [out["per_problem"][r["id"]] for r in rows], out["truncated"]


def stage_eval(model: str, problems: str, max_tokens: int, seed: int) -> dict:
    """Greedy accuracy on the test problems, per problem (0/1 by math-verify) and with its Wilson 95% interval; with
    what a reproduction needs to run it again (engine, dtype, seed, token budget, text digest: :mod:`eval.greedy`)."""
    from pns_hub.eval import greedy

    # the rows as :func:`write_problem_files` wrote them: their ids are the dataset's own ("testbed/test/..."), which
    # a reproduction looks up; load_problems would prefix them with the file's name
    rows = [row for _, row in data.read_jsonl(problems)]
    return greedy.evaluate(model, rows, max_tokens, seed)


def stage_benchmarks(model: str, limit: int, max_tokens: int, seed: int) -> dict:
    """Greedy accuracy on the first ``limit`` problems of each of the seven benchmarks, in one engine call: per
    benchmark (Wilson 95%) and pooled, per problem by id so the pool can be paired across models."""
    from pns_hub import stats
    from pns_hub.engines.backends import fixed_model_backend
    from pns_hub.data.problems import BENCHMARK_NAMES, load_problems

    rows = [(name, r) for name in BENCHMARK_NAMES for r in load_problems(name, limit=limit)]
    scores, truncated = _greedy_correct(model, [r for _, r in rows], max_tokens, seed)
    correct = {r["id"]: c for (_, r), c in zip(rows, scores)}  # ids carry their benchmark ("gsm8k/0", ...)
    if len(correct) != len(rows):
        raise ValueError("benchmark problem ids are not unique across the seven benchmarks: the pool cannot be paired")
    by_benchmark = {name: stats.accuracy([c for (b, _), c in zip(rows, scores) if b == name]).to_dict()
                    for name in BENCHMARK_NAMES}
    return {"per_problem": correct, "accuracy": stats.accuracy(scores).to_dict(), "by_benchmark": by_benchmark,
            "truncated": truncated, "backend": fixed_model_backend("float32")}


def compare(evals: dict[str, dict], seed: int) -> dict:
    """Each DPO model vs the base and vs rejection-sampling DPO of the same seed: paired bootstrap over problems."""
    from pns_hub import stats
    def diff(a: str, b: str) -> dict:
        ids, x, y = stats.pair_by_id(evals[a]["per_problem"], evals[b]["per_problem"])
        return stats.paired_bootstrap(x, y, seed=seed).to_dict()

    out = {}
    for name in evals:
        if name == "base":
            continue
        out[name] = {"vs_base": diff(name, "base")}
        rs = name.replace(name.split("@")[0], "rejection_sampling") if "@" in name else "rejection_sampling"
        if rs in evals and rs != name:
            out[name]["vs_rejection_sampling"] = diff(name, rs)
    return out


def record(model_id: str, method: str, source: str | None, base: str, result: dict, max_tokens: int):
    """The evaluation as a leaderboard record (benchmark ``testbed``), so the results dataset and chart keep working;
    it names what defined the run, so ``pns-hub reproduce`` re-runs exactly that (:func:`eval.greedy.to_record`)."""
    from pns_hub.eval.greedy import to_record

    return to_record(model_id, method, source, base, {"max_new_tokens": max_tokens, **result})
