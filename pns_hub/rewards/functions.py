"""The four PNS reward components and their composite, as TRL reward functions.

Every function here has TRL's reward signature ``fn(prompts, completions, **kwargs) -> list[float | None]``:
dataset columns arrive as keyword lists (``answer`` = gold final answer, ``problem`` = problem text), and ``None``
means "this function has no opinion on this sample" (TRL turns it into NaN and ignores it in the weighted sum).
They can be used alone, combined via ``GRPOConfig.reward_weights``, or through the gated composite that PNS implies.

Component values (our choices where the paper is silent; pns.md section 9):

* ``format``: 1.0 when :func:`format_ok`, else 0.0.
* ``accuracy_inversion``: 1.0 for a *valid negative* (:attr:`pns_hub.grading.verify.VerifyResult.is_valid_negative`: an
  answer that parses as mathematics and differs from the gold), ``correct_reward`` (0.0) when *correct* (however it
  is dressed: ``\\boxed{72 clips}`` for 72 is correct), ``None`` for a non-answer (``\\boxed{wrong}``, an empty box)
  or an answer that cannot be parsed or verified (not certified wrong, so no reward either way).
* ``reward_model``: ``sigmoid(rm_score / T)`` in [0, 1].
* ``cot_judge``: the judge's expected rubric rating in [0, 1].
* ``pns_composite``: bad format -> ``format_penalty`` (-1); verified correct -> ``correct_reward`` (0: a right
  answer earns no plausibility credit); unparseable/unverifiable -> ``unverifiable_reward`` (0); verified wrong ->
  ``base + w_rm * RM + w_judge * judge`` (0.5 + 0.25 + 0.25 by default, so in [0.5, 1]). When the RM or the judge is
  disabled, its weight moves to the other one; with both disabled a wrong answer earns ``base + w_rm + w_judge``.
  The RM and judge run only on the samples that pass the gates, which also saves most of their cost.
* ``pns_oracle``: the same gates with the step checker (:mod:`pns_hub.grading.steps`) in place of RM + judge:
  a verified-wrong answer earns ``base + (w_rm + w_judge) * step plausibility``. The ablation that shows what
  the method does when plausibility is measured well, whatever the RM can do (issue #33).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

from pns_hub.grading import verify
from pns_hub.grading.answer_format import (  # noqa: F401  (re-exported: the format check is part of the reward API)
    MAX_LINE_REPEATS, MAX_REPEAT_FRACTION, MAX_TAIL_CHARS, MIN_REASONING_CHARS, REPEAT_NGRAM, completion_text,
    format_ok, format_problems, problem_text, repetition_fraction,
)


logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------
def _problems(prompts, kwargs) -> list[str]:
    if kwargs.get("problem") is not None:
        return list(kwargs["problem"])
    if prompts is None:
        raise ValueError("reward needs the problem text: pass a 'problem' dataset column or the prompts")
    return [problem_text(p) for p in prompts]


def _truncation_flags(n: int, kwargs, max_completion_length: int | None, eos_token_ids: Sequence[int] | None):
    """Which completions hit the length limit: an explicit ``truncated`` column wins, else token ids are checked."""
    if kwargs.get("truncated") is not None:
        return [bool(t) for t in kwargs["truncated"]]
    ids = kwargs.get("completion_ids")
    if ids is None or not max_completion_length:
        return [False] * n
    eos = set(eos_token_ids or [])
    return [len(x) >= max_completion_length and (not x or x[-1] not in eos) for x in ids]


def _named(fn: Callable, name: str) -> Callable:
    fn.__name__ = name  # TRL logs each reward under its function's __name__
    fn.__qualname__ = name
    return fn


# --------------------------------------------------------------------------------------------------------------
# Components
# --------------------------------------------------------------------------------------------------------------
def get_format_reward(max_completion_length: int | None = None, eos_token_ids: Sequence[int] | None = None):
    """Format reward that also knows the generation limit, so token-level truncation counts as bad format."""

    def format_reward(prompts=None, completions=None, **kwargs) -> list[float | None]:
        texts = [completion_text(c) for c in completions]
        flags = _truncation_flags(len(texts), kwargs, max_completion_length, eos_token_ids)
        return [1.0 if format_ok(t, f) else 0.0 for t, f in zip(texts, flags)]

    return _named(format_reward, "format_reward")


def format_reward(prompts=None, completions=None, **kwargs) -> list[float | None]:
    """1.0 for a well-formed completion, else 0.0 (truncation known only from a ``truncated`` kwarg)."""
    return get_format_reward()(prompts=prompts, completions=completions, **kwargs)


def _verdicts(texts: Sequence[str], golds: Sequence[str], num_workers: int) -> list[str]:
    if len(texts) != len(golds):
        raise ValueError(f"{len(texts)} completions but {len(golds)} gold answers")
    return [r.verdict for r in verify.verify_batch(list(texts), [str(g) for g in golds], num_workers=num_workers)]


def get_accuracy_inversion_reward(wrong_reward: float = 1.0, correct_reward: float = 0.0, num_workers: int = 0):
    """Reward for a verified *wrong* final answer; see the module docstring for the values.

    ``num_workers=0`` verifies in the calling (main) thread, where math-verify's own timeout works; GRPO batches
    are small, so a pool's start-up would cost more than it saves.
    """

    def accuracy_inversion_reward(prompts=None, completions=None, answer=None, **kwargs) -> list[float | None]:
        if answer is None:
            raise ValueError("accuracy_inversion_reward needs the gold answers: a dataset column named 'answer'")
        texts = [completion_text(c) for c in completions]
        if len(texts) != len(answer):
            raise ValueError(f"{len(texts)} completions but {len(answer)} gold answers")
        results = verify.verify_batch(texts, [str(g) for g in answer], num_workers=num_workers)
        # Only a valid negative (a mathematical answer that differs from the gold) is paid; a word, an empty box or a
        # restatement of the right answer never is.
        return [wrong_reward if r.is_valid_negative else correct_reward if r.is_correct else None for r in results]

    return _named(accuracy_inversion_reward, "accuracy_inversion_reward")


accuracy_inversion_reward = get_accuracy_inversion_reward()


def _scorer(scorer_or_spec, **kwargs):
    from pns_hub.rewards.reward_model import RewardModelScorer

    if isinstance(scorer_or_spec, str):
        return RewardModelScorer.cached(scorer_or_spec, **kwargs)
    return scorer_or_spec


def _judge(judge_or_spec, **kwargs):
    from pns_hub.rewards.judge import CoTJudge

    if isinstance(judge_or_spec, str):
        return CoTJudge.cached(judge_or_spec, **kwargs)
    return judge_or_spec


def get_reward_model_reward(scorer_or_spec, **scorer_kwargs):
    """``sigmoid(RM score / T)`` for every completion; the scorer is loaded once (cached) from a spec."""
    scorer = _scorer(scorer_or_spec, **scorer_kwargs)

    def reward_model_reward(prompts=None, completions=None, **kwargs) -> list[float | None]:
        texts = [completion_text(c) for c in completions]
        return scorer.squash(scorer.score(_problems(prompts, kwargs), texts))

    return _named(reward_model_reward, "reward_model_reward")


def get_cot_judge_reward(judge_or_spec, **judge_kwargs):
    """Judge rubric score in [0, 1]; the gold answer is never passed to the judge."""
    judge = _judge(judge_or_spec, **judge_kwargs)

    def cot_judge_reward(prompts=None, completions=None, **kwargs) -> list[float | None]:
        texts = [completion_text(c) for c in completions]
        return judge.score(_problems(prompts, kwargs), texts)

    return _named(cot_judge_reward, "cot_judge_reward")


class StepCheckerScorer:
    """The step checker (:mod:`pns_hub.grading.steps`) with a scorer's interface (``score`` / ``squash``), so the gated
    composite can take it in place of the RM: the oracle ablation (``pns_oracle``). Its plausibility is already in
    [0, 1], so ``squash`` is the identity; it needs no model and measures plausibility well whatever the RM can do."""

    metric = "pns/steps"  # logged under this name, not as the RM

    def score(self, problems: Sequence[str], completions: Sequence[str], progress: bool = False) -> list[float]:
        from pns_hub.grading.steps import plausibility_scores

        return plausibility_scores(list(completions), list(problems))

    def squash(self, scores: Sequence[float]) -> list[float]:
        return [float(s) for s in scores]


def composite_score(rm_squashed: float | None, judge: float | None, base: float = 0.5, rm_weight: float = 0.25,
                    judge_weight: float = 0.25) -> float:
    """Plausibility of a verified-wrong, well-formed answer: ``base + w_rm * sigma(RM) + w_judge * judge`` (pns.md 9.3).

    The one definition, shared by GRPO's gated reward and by synthesis's ranking of negatives. A disabled component
    (``None``) moves its weight to the other one, so the score keeps the same range; with both disabled it is the
    constant ``base + rm_weight + judge_weight``.
    """
    if rm_squashed is None and judge is None:
        return base + rm_weight + judge_weight
    if judge is None:
        return base + (rm_weight + judge_weight) * rm_squashed
    if rm_squashed is None:
        return base + (rm_weight + judge_weight) * judge
    return base + rm_weight * rm_squashed + judge_weight * judge


def get_composite_reward(scorer=None, judge=None, base: float = 0.5, rm_weight: float = 0.25,
                         judge_weight: float = 0.25, format_penalty: float = -1.0, correct_reward: float = 0.0,
                         unverifiable_reward: float = 0.0, max_completion_length: int | None = None,
                         eos_token_ids: Sequence[int] | None = None, num_workers: int = 0):
    """The gated PNS reward (module docstring). ``scorer``/``judge`` are objects, specs, or ``None`` (disabled).

    Components are logged through TRL's ``log_metric`` (``pns/format_ok``, ``pns/wrong``, ``pns/rm``,
    ``pns/judge``) so a run shows *why* its reward moves.
    """
    scorer = _scorer(scorer) if scorer is not None else None
    judge = _judge(judge) if judge is not None else None
    weights = {"base": base, "rm_weight": rm_weight, "judge_weight": judge_weight}
    constant = composite_score(None, None, **weights)

    def pns_composite_reward(prompts=None, completions=None, answer=None, **kwargs) -> list[float | None]:
        if answer is None:
            raise ValueError("pns_composite_reward needs the gold answers: a dataset column named 'answer'")
        texts = [completion_text(c) for c in completions]
        flags = _truncation_flags(len(texts), kwargs, max_completion_length, eos_token_ids)
        ok = [format_ok(t, f) for t, f in zip(texts, flags)]
        verdicts = [None] * len(texts)
        checked = [i for i in range(len(texts)) if ok[i]]
        for i, v in zip(checked, _verdicts([texts[i] for i in checked], [answer[i] for i in checked], num_workers)):
            verdicts[i] = v
        rewards: list[float | None] = []
        for i in range(len(texts)):
            if not ok[i]:
                rewards.append(format_penalty)
            elif verdicts[i] == verify.CORRECT:
                rewards.append(correct_reward)
            elif verdicts[i] == verify.WRONG:
                rewards.append(constant)
            else:
                rewards.append(unverifiable_reward)
        wrong = [i for i, v in enumerate(verdicts) if v == verify.WRONG]
        rm_vals, judge_vals = [], []
        if wrong and (scorer is not None or judge is not None):
            problems = _problems(prompts, kwargs)
            sub_p, sub_t = [problems[i] for i in wrong], [texts[i] for i in wrong]
            if scorer is not None:
                rm_vals = scorer.squash(scorer.score(sub_p, sub_t))
            if judge is not None:
                judge_vals = judge.score(sub_p, sub_t)
            for n, i in enumerate(wrong):
                rewards[i] = composite_score(rm_vals[n] if rm_vals else None, judge_vals[n] if judge_vals else None,
                                             **weights)
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and texts:
            log_metric("pns/format_ok", sum(ok) / len(ok))
            log_metric("pns/wrong", len(wrong) / len(texts))
            log_metric("pns/correct", sum(v == verify.CORRECT for v in verdicts) / len(texts))
            if rm_vals:
                log_metric(getattr(scorer, "metric", "pns/rm"), sum(rm_vals) / len(rm_vals))
            if judge_vals:
                log_metric("pns/judge", sum(judge_vals) / len(judge_vals))
        return rewards

    return _named(pns_composite_reward, "pns_composite_reward")


# --------------------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------------------
def _opt(args, name, default=None):
    return getattr(args, name, default) if args is not None else default


def _device(training_args) -> str | None:
    """The trainer's device (this rank's GPU under accelerate), so RM and judge sit next to the policy."""
    device = getattr(training_args, "device", None) if training_args is not None else None
    return str(device) if device is not None else None


def _scorer_kwargs(args, training_args=None) -> dict:
    return {k: v for k, v in {
        "device": _device(training_args),
        "batch_size": _opt(args, "reward_model_batch_size"), "max_length": _opt(args, "reward_model_max_length"),
        "squash_temperature": _opt(args, "reward_model_temperature"), "resident": _opt(args, "reward_models_resident"),
    }.items() if v is not None}


def _judge_kwargs(args, training_args=None) -> dict:
    return {k: v for k, v in {
        "device": _device(training_args),
        "batch_size": _opt(args, "judge_batch_size"), "mode": _opt(args, "judge_mode"),
        "injection_penalty": _opt(args, "judge_injection_penalty"), "resident": _opt(args, "reward_models_resident"),
    }.items() if v is not None}


def _build_format(args, training_args, tokenizer):
    return get_format_reward(_opt(training_args, "max_completion_length"), _eos_ids(tokenizer))


def _eos_ids(tokenizer) -> list[int] | None:
    if tokenizer is None:
        return None
    return sorted({tokenizer.eos_token_id, tokenizer.pad_token_id} - {None})


def _require(args, field: str, what: str) -> str:
    spec = _opt(args, field)
    if not spec:
        raise ValueError(f"reward '{what}' needs '{field}' in the script arguments (a Hub id, folder or embedded:...)")
    return spec


def _build_composite(args, training_args, tokenizer, oracle: bool = False):
    """The gated composite from the script arguments; ``oracle`` puts the step checker in place of RM + judge."""
    rm_spec, judge_spec = _opt(args, "reward_model_path"), _opt(args, "judge_model")
    scorer = StepCheckerScorer() if oracle else _scorer(rm_spec, **_scorer_kwargs(args, training_args)) if rm_spec \
        else None
    fn = get_composite_reward(
        scorer=scorer, judge=_judge(judge_spec, **_judge_kwargs(args, training_args)) if judge_spec and not oracle
        else None,
        base=_opt(args, "composite_base", 0.5), rm_weight=_opt(args, "composite_rm_weight", 0.25),
        judge_weight=_opt(args, "composite_judge_weight", 0.25),
        format_penalty=_opt(args, "format_penalty", -1.0), correct_reward=_opt(args, "correct_reward", 0.0),
        unverifiable_reward=_opt(args, "unverifiable_reward", 0.0),
        max_completion_length=_opt(training_args, "max_completion_length"), eos_token_ids=_eos_ids(tokenizer),
    )
    return _named(fn, "pns_oracle_reward") if oracle else fn


# name -> builder(script_args, training_args, tokenizer) -> reward function. Builders, not functions, because the
# model-backed rewards must not load a model unless a recipe names them.
REWARD_FUNCS_REGISTRY: dict[str, Callable[..., Callable]] = {
    "format": _build_format,
    "accuracy_inversion": lambda a, t, tok: get_accuracy_inversion_reward(
        correct_reward=_opt(a, "correct_reward", 0.0)),
    "reward_model": lambda a, t, tok: get_reward_model_reward(
        _require(a, "reward_model_path", "reward_model"), **_scorer_kwargs(a, t)),
    "cot_judge": lambda a, t, tok: get_cot_judge_reward(
        _require(a, "judge_model", "cot_judge"), **_judge_kwargs(a, t)),
    "pns_composite": _build_composite,
    # the oracle ablation: the same gates, the step checker's plausibility in place of RM + judge
    "pns_oracle": lambda a, t, tok: _build_composite(a, t, tok, oracle=True),
}


def get_reward_funcs(names: Sequence[str] | Any, script_args=None, training_args=None, tokenizer=None) -> list[Callable]:
    """Resolve reward names (from YAML ``reward_funcs``) to functions; ``names`` may be the script args themselves."""
    if not isinstance(names, (list, tuple)):
        script_args = names if script_args is None else script_args
        names = names.reward_funcs
    unknown = [n for n in names if n not in REWARD_FUNCS_REGISTRY]
    if unknown:
        raise KeyError(f"unknown reward function(s) {unknown}; known: {sorted(REWARD_FUNCS_REGISTRY)}")
    return [REWARD_FUNCS_REGISTRY[n](script_args, training_args, tokenizer) for n in names]


__all__ = [
    "format_ok", "format_problems", "format_reward", "get_format_reward", "accuracy_inversion_reward",
    "get_accuracy_inversion_reward", "get_reward_model_reward", "get_cot_judge_reward", "get_composite_reward", "composite_score", "StepCheckerScorer",
    "REWARD_FUNCS_REGISTRY", "get_reward_funcs", "completion_text", "problem_text", "repetition_fraction",
]
