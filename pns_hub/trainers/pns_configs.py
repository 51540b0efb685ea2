"""Script-argument dataclasses for the PNS recipes, parsed by ``trl.TrlParser`` from YAML (open-r1 shape).

Every default that the paper does not fix is ours and is marked so in the help text; the recipes and model cards
record the values actually used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import trl

from pns_hub import models
from pns_hub.hardware import apply_hardware_defaults


@dataclass
class PNSGeneratorScriptArguments(trl.ScriptArguments):
    """Arguments of ``recipes/pns_generator.py`` beyond ``GRPOConfig`` and ``ModelConfig``.

    Args:
        dataset_name (`str`): a ``pns_hub.data.problems`` set name (``gsm8k_train``, ``math_500`` ...) or a JSONL path.
        dataset_limit (`int`, *optional*): use only the first N problems (after the held-out split).
        holdout (`int`): problems kept out of training (deterministic split) for before/after measurement.
        reward_funcs (`list[str]`): names in ``pns_hub.rewards.functions.REWARD_FUNCS_REGISTRY``.
        reward_model_path (`str`, *optional*): RM for the ``reward_model`` term (output of recipes/reward_model.py).
        judge_model (`str`, *optional*): causal LM used as CoT judge.
    """

    dataset_name: str | None = field(default="gsm8k_train", metadata={"help": "pns_hub.data.problems set name or JSONL path."})
    dataset_limit: int | None = field(default=None, metadata={"help": "Train on the first N problems only."})
    holdout: int = field(default=0, metadata={"help": "Problems held out of training (deterministic split)."})
    split_seed: int = field(default=0, metadata={"help": "Seed of the held-out split."})
    reward_funcs: list[str] = field(
        default_factory=lambda: ["pns_composite"],
        metadata={"help": "Reward names: format, accuracy_inversion, reward_model, cot_judge, pns_composite, "
                          "pns_oracle (the composite with the step checker in place of RM + judge)."},
    )
    reward_model_path: str | None = field(
        default=None, metadata={"help": "Reward model spec (Hub id / folder). None disables the RM term (its weight "
                                        "goes to the judge)."})
    reward_model_batch_size: int = field(default=16, metadata={"help": "RM scoring batch size."})
    reward_model_max_length: int = field(default=1024, metadata={"help": "RM input token budget."})
    reward_model_temperature: float = field(
        default=1.0, metadata={"help": "[OUR DEFAULT] T in sigmoid(rm_score / T), the RM squash."})
    judge_model: str | None = field(
        default=models.EMBEDDED_DEFAULT, metadata={"help": "CoT judge spec; None disables the judge term."})
    judge_batch_size: int = field(default=16, metadata={"help": "Judge batch size."})
    judge_mode: str = field(default="overall", metadata={"help": "'overall' (one rubric question) or "
                                                                 "'per_criterion' (four, averaged)."})
    judge_injection_penalty: float = field(
        default=1.0, metadata={"help": "Fraction of the judge score removed when a completion addresses the judge."})
    reward_models_resident: bool = field(
        default=True, metadata={"help": "Keep the RM and judge loaded between generation rounds. False loads them for "
                                        "each round's scoring and frees them before the policy's forward and backward "
                                        "(less memory at the training peak, a load per round; the demo uses False)."})
    composite_base: float = field(default=0.5, metadata={"help": "[OUR DEFAULT] Reward of a well-formed wrong answer."})
    composite_rm_weight: float = field(default=0.25, metadata={"help": "[OUR DEFAULT] Weight of sigmoid(RM)."})
    composite_judge_weight: float = field(default=0.25, metadata={"help": "[OUR DEFAULT] Weight of the judge."})
    format_penalty: float = field(default=-1.0, metadata={"help": "Reward of a badly formatted completion (gate)."})
    correct_reward: float = field(default=0.0, metadata={"help": "Reward of a verified-correct answer (no credit)."})
    unverifiable_reward: float = field(default=0.0, metadata={"help": "Reward when the answer cannot be verified."})
    hub_card_template: str = field(default="generator.md", metadata={"help": "Model-card template in model_cards/."})

    def __post_init__(self):
        if hasattr(super(), "__post_init__"):
            super().__post_init__()
        # On a command line, "--judge_model none" is how a user disables a term; YAML null arrives as None.
        for name in ("reward_model_path", "judge_model"):
            value = getattr(self, name)
            if isinstance(value, str) and value.strip().lower() in ("", "none", "null"):
                setattr(self, name, None)
        if self.judge_mode not in ("overall", "per_criterion"):
            raise ValueError(f"judge_mode must be 'overall' or 'per_criterion', got {self.judge_mode!r}")


@dataclass
class RewardModelScriptArguments(trl.ScriptArguments):
    """Arguments of ``recipes/reward_model.py`` beyond ``RewardConfig`` and ``ModelConfig``.

    Args:
        policy_model (`str`): model sampled to get (correct, wrong) responses.
        num_samples (`int`): samples per problem.
        heldout_problems (`int`): problems whose pairs are only used to measure pairwise accuracy.
    """

    dataset_name: str | None = field(default="gsm8k_train", metadata={"help": "pns_hub.data.problems set name or JSONL path."})
    dataset_limit: int | None = field(default=200, metadata={"help": "Problems to sample pairs from."})
    heldout_problems: int = field(default=40, metadata={"help": "Problems reserved for held-out pairwise accuracy."})
    split_seed: int = field(default=0, metadata={"help": "Seed of the held-out split."})
    policy_model: str = field(default=models.EMBEDDED_DEFAULT, metadata={"help": "Policy sampled for the pairs."})
    num_samples: int = field(default=4, metadata={"help": "Samples per problem."})
    max_new_tokens: int = field(default=192, metadata={"help": "Sampling length budget."})
    temperature: float = field(default=0.8, metadata={"help": "Sampling temperature."})
    sample_batch_size: int = field(default=32, metadata={"help": "Generation batch size (sequences)."})
    max_pairs_per_problem: int = field(default=2, metadata={"help": "Cap on pairs per problem."})
    use_gold_fallback: bool = field(default=True, metadata={"help": "Gold solution as correct side when the "
                                                                    "policy never solved the problem."})
    pairs_path: str | None = field(default=None, metadata={"help": "Reuse pairs from this JSONL instead of sampling."})
    format_filter: bool = field(default=True, metadata={"help": "Only well-formed samples (rewards.format_ok, not "
                                                                "truncated) become sides, as synthesis filters its "
                                                                "candidates: the RM scores well-formed ones only."})
    max_train_pairs: int | None = field(default=None, metadata={"help": "Train on the first N train pairs only "
                                                                        "(the learning curve; None = all)."})
    hub_card_template: str = field(default="reward_model.md", metadata={"help": "Model-card template."})


@dataclass
class PNSGRPOConfig(trl.GRPOConfig):
    """``trl.GRPOConfig`` that also runs on a CPU-only machine from the same YAML (see :func:`pns_hub.hardware.apply_hardware_defaults`)."""

    def __post_init__(self):
        apply_hardware_defaults(self)
        super().__post_init__()


@dataclass
class PNSRewardConfig(trl.RewardConfig):
    """``trl.RewardConfig`` that also runs on a CPU-only machine from the same YAML (see :func:`pns_hub.hardware.apply_hardware_defaults`)."""

    def __post_init__(self):
        apply_hardware_defaults(self)
        super().__post_init__()


@dataclass
class PNSSFTConfig(trl.SFTConfig):
    """``trl.SFTConfig`` that also runs on a CPU-only machine from the same YAML (see :func:`pns_hub.hardware.apply_hardware_defaults`)."""

    def __post_init__(self):
        apply_hardware_defaults(self)
        super().__post_init__()
