"""PSR / NSR / W-REINFORCE (arXiv 2506.01347) as a TRL ``GRPOTrainer`` subclass.

The objective is REINFORCE on a verifier's verdict with *no* baseline: each completion's advantage is

============  ========================  =====================
mode          verified correct          not correct
============  ========================  =====================
``psr``       +1                        0
``nsr``       0                         -1
``w_reinforce`` +lambda (0.1)           -1
============  ========================  =====================

and no KL term (``beta = 0``). TRL cannot express this by configuration: whatever ``scale_rewards`` says,
``_generate_and_score_completions`` always subtracts the group mean (``advantages = rewards - mean``), so rewards in
{+lambda, -1} would become group-relative. The override point the TRL maintainers name (huggingface/trl#4525) is the
output of ``_generate_and_score_completions``: we let the parent generate and score, capture the rewards it gathered
from every process (``_calculate_rewards``), and replace ``output["advantages"]`` with the rule above, sliced to this
process's rows exactly as the parent slices its own. The PPO-clip loss, the token-level (``dapo``) normalisation and
everything else stay TRL's.

"Not correct" is every verdict but ``correct`` (wrong, or no parseable answer), as the paper's 0/1 score does. A
completion the verifier could not decide (``unverifiable``: timeout, absurd answer) gets no advantage at all (None
reward -> NaN -> 0), rather than being punished for the grader's failure.

Normalisation caveat (PSR/NSR only): the paper's verl code *drops* the zero-advantage samples before the update;
here they stay in the token-mean denominator, which scales the update by about the kept-token fraction (retune the
learning rate, or use ``w_reinforce`` where nothing is dropped and both agree).
"""

from __future__ import annotations

import logging

import torch
from trl import GRPOTrainer

from pns_hub.engines import lm_head

from pns_hub.grading import verify
from pns_hub.trainers.configs import NSR_MODES, NSRConfig


logger = logging.getLogger(__name__)


def outcome_advantages(correct: torch.Tensor, mode: str = "w_reinforce", lam: float = 0.1) -> torch.Tensor:
    """Baseline-free advantage per completion from a correctness score (1 correct, 0 not, NaN undecided).

    A pure function so the rule can be checked exactly: psr (+1, 0), nsr (0, -1), w_reinforce (+lam, -1); NaN -> 0.
    """
    if mode not in NSR_MODES:
        raise ValueError(f"mode must be one of {NSR_MODES}, got {mode!r}")
    correct = correct.float()
    is_correct = correct > 0.5
    pos, neg = {"psr": (1.0, 0.0), "nsr": (0.0, -1.0), "w_reinforce": (float(lam), -1.0)}[mode]
    advantages = torch.where(is_correct, torch.full_like(correct, pos), torch.full_like(correct, neg))
    return torch.where(torch.isnan(correct), torch.zeros_like(correct), advantages)


def make_correctness_reward(num_workers: int = 0, timeout: float = verify.DEFAULT_TIMEOUT):
    """A TRL reward function: 1.0 if the completion's final answer verifies against the row's ``answer``, else 0.0.

    Returns None (TRL: "not scored") for ``unverifiable`` verdicts. It also logs the verdict per completion to TRL's
    completions table.
    """

    def verified_correct(completions, answer, log_extra=None, **kwargs) -> list[float | None]:
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        results = verify.verify_batch(texts, list(answer), num_workers=num_workers, timeout=timeout)
        if log_extra is not None:
            log_extra("verdict", [r.verdict for r in results])
        return [None if r.verdict == verify.UNVERIFIABLE else (1.0 if r.is_correct else 0.0) for r in results]

    return verified_correct


class NSRTrainer(GRPOTrainer):
    """``GRPOTrainer`` with PSR / NSR / W-REINFORCE advantages (see the module docstring).

    ``reward_funcs`` defaults to the math-verify correctness reward on the dataset's ``answer`` column; if you pass
    your own, the *first* must return 1 for correct and 0 for not correct (others are only logged). After each
    generation ``trainer.nsr_last_batch`` holds this process's prompt/completion ids, masks, correctness and
    advantages (what the loss will use), for audits and tests.
    """

    _tag_names = ["trl", "grpo", "nsr", "w-reinforce", "pns-hub"]

    def __init__(self, model, reward_funcs=None, args: NSRConfig | None = None, **kwargs):
        if args is None or not isinstance(args, NSRConfig):
            raise TypeError("NSRTrainer needs an NSRConfig (nsr_mode, nsr_lambda, ...)")
        if reward_funcs is None:
            reward_funcs = [make_correctness_reward(args.verifier_workers, args.verifier_timeout)]
        elif not isinstance(reward_funcs, list):
            reward_funcs = [reward_funcs]
        super().__init__(model=model, reward_funcs=reward_funcs, args=args, **kwargs)
        self._gathered_rewards: torch.Tensor | None = None
        self.nsr_last_batch: dict | None = None

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        # The parent returns rewards of *all* processes (it normalises per group); keep them for our advantages.
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._gathered_rewards = rewards_per_func
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        if self._gathered_rewards is None:
            raise RuntimeError("NSRTrainer: rewards were not captured (TRL's _calculate_rewards was not called)")
        correct = self._gathered_rewards[:, 0]
        self._gathered_rewards = None
        advantages = outcome_advantages(correct, self.args.nsr_mode, self.args.nsr_lambda)
        n_local = len(output["advantages"])
        start = self.accelerator.process_index * n_local
        local = advantages[start:start + n_local].to(output["advantages"].device)
        output["advantages"] = local

        # TRL logged its group-normalised advantages for the completions table: replace them with the ones used.
        logged = self._logs["advantages"]
        for k, value in enumerate(advantages.tolist()):
            logged[len(logged) - len(advantages) + k] = value
        mode = "train" if self.model.training else "eval"
        decided = ~torch.isnan(correct)
        self._metrics[mode]["nsr/frac_correct"].append(
            (correct[decided] > 0.5).float().mean().item() if decided.any() else 0.0
        )
        self._metrics[mode]["nsr/frac_undecided"].append((~decided).float().mean().item())
        self.nsr_last_batch = {
            "prompt_ids": output["prompt_ids"].detach().cpu(),
            "prompt_mask": output["prompt_mask"].detach().cpu(),
            "completion_ids": output["completion_ids"].detach().cpu(),
            "completion_mask": output["completion_mask"].detach().cpu(),
            "correct": correct[start:start + n_local].detach().cpu(),
            "advantages": local.detach().cpu(),
        }
        return output


def load_rl_problems(dataset_name: str, limit: int | None = None):
    """Problems as a GRPO dataset: conversational ``prompt`` (the shared template), ``answer`` (gold), ``id``.

    ``dataset_name`` is a :mod:`pns_hub.data.problems` set name or a JSONL path (rows with problem/answer fields).
    """
    import os

    from datasets import Dataset

    from pns_hub.data import problems as data
    from pns_hub.engines.generation import build_prompt

    if dataset_name in data.ALL_SETS:
        rows = data.load_problems(dataset_name, limit=limit)
    elif os.path.exists(dataset_name):
        rows, _ = data.load_jsonl_problems(dataset_name)
        rows = rows[:limit] if limit is not None else rows
    else:
        raise ValueError(f"unknown dataset '{dataset_name}': use one of {sorted(data.ALL_SETS)} or a JSONL path")
    if not rows:
        raise ValueError(f"{dataset_name}: no problems")
    return Dataset.from_list([{"prompt": build_prompt(r["problem"]), "answer": r["answer"], "id": r["id"]}
                              for r in rows])


def train_nsr(script_args, training_args: NSRConfig, model_args=None, train_dataset=None) -> dict:
    """Run PSR/NSR/W-REINFORCE, save the model folder with its card (and push it when asked); return a summary."""
    from pns_hub.trainers.common import model_folder, save_and_push, start_run

    run = start_run(training_args, model_args, padding_side="left")
    if train_dataset is None:
        train_dataset = load_rl_problems(script_args.dataset_name, script_args.dataset_limit)
    trainer = NSRTrainer(model=run.model_path, args=training_args, train_dataset=train_dataset,
                         processing_class=run.tokenizer, peft_config=run.peft_config)
    lm_head.use_dense_lm_head_in_trainer(trainer, temperature=trainer.temperature)
    result = trainer.train()
    folder = model_folder(script_args, training_args)
    logs = [entry for entry in trainer.state.log_history if "nsr/frac_correct" in entry]
    summary = {
        **run.summary_head(),
        "dataset": script_args.dataset_name,
        "num_problems": len(train_dataset),
        "mode": training_args.nsr_mode,
        "lambda": training_args.nsr_lambda,
        "global_steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "frac_correct": [round(entry["nsr/frac_correct"], 4) for entry in logs],
        "hyperparameters": {k: getattr(training_args, k) for k in (
            "learning_rate", "lr_scheduler_type", "beta", "epsilon", "loss_type", "num_generations",
            "max_completion_length", "temperature", "per_device_train_batch_size", "gradient_accumulation_steps",
            "bf16", "seed")},
        "train_seconds": run.seconds(),
        "model_folder": str(folder),
    }
    return save_and_push(trainer, run, folder, "nsr.md", summary, training_args,
                         f"Upload {training_args.nsr_mode} model with pns-hub")
