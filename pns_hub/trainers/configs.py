"""Dataclass configs for the negative-sample recipes (trajectories, GLOW, NSR), parsed by ``trl.TrlParser`` from YAML.

Why subclasses of TRL's own configs: every TRL/transformers knob (lr, epochs, logging, ``gradient_accumulation_steps``)
stays available from the same YAML, and our method knobs sit beside them with a ``glow_`` / ``nsr_`` prefix so they
never collide with a field TRL may add later. Script-level arguments (which model, which data, where the final
folder goes) live in separate small dataclasses, open-r1 style.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import GRPOConfig, SFTConfig

from pns_hub.hardware import apply_hardware_defaults
from pns_hub.models import EMBEDDED_DEFAULT


NSR_MODES = ("psr", "nsr", "w_reinforce")


@dataclass
class TrajectoryArguments:
    """What ``recipes/sample_trajectories.py`` samples, and where the Hub-layout dataset folder goes."""

    model_name_or_path: str = field(default=EMBEDDED_DEFAULT, metadata={"help": "Hub id, local folder or embedded:*"})
    dataset_name: str = field(default="gsm8k_train", metadata={"help": "a pns_hub.data.problems set name (e.g. gsm8k_train)"})
    limit: int | None = field(default=None, metadata={"help": "use only the first N problems"})
    num_samples: int = field(default=4, metadata={"help": "k: solutions sampled per problem"})
    max_new_tokens: int = field(default=256)
    temperature: float = field(default=0.7)
    top_p: float = field(default=0.95)
    seed: int = field(default=0)
    batch_size: int = field(default=32, metadata={"help": "sequences per generate() call"})
    dtype: str = field(default="auto", metadata={"help": "auto | bf16 | fp32 ..."})
    include_gold_positives: bool = field(
        default=True,
        metadata={"help": "add each problem's reference solution as a positive (weak models rarely produce one)"},
    )
    verify_workers: int | None = field(default=None, metadata={"help": "0 = in-process, None = all cores"})
    output_dir: str = field(default="data/trajectories", metadata={"help": "dataset folder (Hub layout)"})
    push_repo_id: str | None = field(default=None, metadata={"help": "push the folder to this dataset repo"})


@dataclass
class TrainScriptArguments:
    """Data and output arguments shared by the GLOW and NSR recipes. The model comes from ``trl.ModelConfig``
    (``model_name_or_path``, revision, dtype, PEFT) and publishing from the training config (``push_to_hub``,
    ``hub_model_id``), as in every other recipe."""

    dataset_name: str = field(
        default="gsm8k_train",
        metadata={"help": "GLOW: a trajectories folder / Hub dataset id; NSR: a pns_hub.data.problems set name or JSONL path"},
    )
    dataset_config: str | None = field(default=None, metadata={"help": "GLOW: all | positive | negative"})
    dataset_limit: int | None = field(default=None, metadata={"help": "use only the first N rows / problems"})
    model_folder: str | None = field(
        default=None, metadata={"help": "where the final model + card is saved (default: <output_dir>/final)"}
    )


@dataclass
class GlowConfig(SFTConfig):
    """``SFTConfig`` plus GLOW's weight rule w = clamp(alpha * (1 - sigmoid(beta * gain)), min, max).

    Defaults are the authors' code defaults (alpha 1, beta 20, bounds [0.5, 5]); see glow_nsr.md section 1.3.
    """

    glow_alpha: float = field(default=1.0, metadata={"help": "GLOW alpha (scale of the weight)"})
    glow_beta: float = field(default=20.0, metadata={"help": "GLOW beta (sharpness of the sigmoid of the gain)"})
    glow_min_weight: float = field(default=0.5, metadata={"help": "lower clamp of the per-sample weight"})
    glow_max_weight: float = field(default=5.0, metadata={"help": "upper clamp of the per-sample weight"})
    glow_record: bool = field(
        default=False, metadata={"help": "keep every step's (sample id, loss, previous loss, weight) on the trainer"}
    )

    def __post_init__(self):
        apply_hardware_defaults(self)
        super().__post_init__()
        if self.glow_min_weight > self.glow_max_weight:
            raise ValueError(f"glow_min_weight {self.glow_min_weight} > glow_max_weight {self.glow_max_weight}")
        if self.packing or self.padding_free:
            # Packing merges samples into one row, so a row no longer has one sample id or one per-sample loss.
            raise ValueError("GLOW needs one sample per row: set packing=False and padding_free=False")


@dataclass
class NSRConfig(GRPOConfig):
    """``GRPOConfig`` plus the PSR / NSR / W-REINFORCE advantage rule (arXiv 2506.01347).

    Advantage of a completion: ``psr`` +1 if verified correct else 0; ``nsr`` 0 if correct else -1; ``w_reinforce``
    +lambda if correct else -1. No group mean, no std scaling. ``beta`` (KL) defaults to 0 as in the paper.
    """

    nsr_mode: str = field(default="w_reinforce", metadata={"help": "psr | nsr | w_reinforce"})
    nsr_lambda: float = field(default=0.1, metadata={"help": "W-REINFORCE weight of correct samples"})
    verifier_workers: int = field(default=0, metadata={"help": "verify_batch workers (0 = in-process)"})
    verifier_timeout: float = field(default=5.0, metadata={"help": "seconds per math-verify check"})
    scale_rewards: str = field(default="none", metadata={"help": "irrelevant here: advantages are overwritten"})

    def __post_init__(self):
        apply_hardware_defaults(self)
        super().__post_init__()
        if self.nsr_mode not in NSR_MODES:
            raise ValueError(f"nsr_mode must be one of {NSR_MODES}, got {self.nsr_mode!r}")
        if self.nsr_lambda < 0:
            raise ValueError(f"nsr_lambda must be >= 0, got {self.nsr_lambda}")


def parse_recipe_args(dataclass_types: tuple, argv: list[str] | None = None):
    """``TrlParser`` with ``report_to: none`` as default (no trackers unless the YAML names one).

    Hardware defaults are not parser defaults: ``GlowConfig`` / ``NSRConfig`` apply
    :func:`pns_hub.hardware.apply_hardware_defaults` in ``__post_init__``, like every other recipe config.
    """
    from trl import TrlParser

    parser = TrlParser(dataclass_types)
    names = {f for t in dataclass_types for f in t.__dataclass_fields__}
    if "report_to" in names:
        parser.set_defaults(report_to="none")
    return parser.parse_args_and_config(argv)
