"""DPO on a negatives dataset: TRL's ``DPOTrainer`` fed from a Hub-layout preference dataset (or a mix of configs).

``train_dpo(script_args, training_args, model_args) -> output_dir`` is what ``recipes/dpo.py`` calls after
``TrlParser`` has read the YAML; the lead's demo calls it in-process with the same three dataclasses.

Why each step:
* Rows are TRL's conversational preference format (``prompt`` messages, one-message ``chosen``/``rejected``) plus
  metadata columns. The metadata is dropped before training because DPOTrainer tokenises every column it is given;
  every row is checked first and a bad one raises with config, row and field (nothing is silently skipped).
* The data is TRL's own mixture (``trl.DatasetMixtureConfig`` + ``trl.get_dataset``): a ``datasets:`` list in the
  YAML (path, name, split, fraction, ... as in TRL's scripts), or the shorthand ``dataset_mixture: {pns: 0.5,
  rejection_sampling: 0.5}`` for configs of ``dataset_name``, or one ``dataset_name``/``dataset_config``. Fractions
  are *proportions of the training mix*: TRL keeps the first rows of each config, as many as the largest mix those
  proportions allow without repeating a row; we shuffle the mix with the training seed. Each config is validated
  first, so a bad row is named by its config, row and field.
* Hardware defaults (:class:`PNSDPOConfig`): bf16 only where the CPU/GPU runs it natively, no gradient
  checkpointing on CPU (it trades compute for memory a CPU run does not lack), and ``precompute_ref_log_probs``
  so the frozen reference model runs once over the data instead of at every step.
* The output folder gets a model card (``model_cards/dpo.md``) whose ``model-index`` metadata carries the
  evaluation results, so the Hub shows the scores next to the model.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import trl

from pns_hub.engines import lm_head

from pns_hub import models
logger = logging.getLogger(__name__)

PREFERENCE_COLUMNS = ("prompt", "chosen", "rejected")


@dataclass
class DPOScriptArguments(trl.ScriptArguments, trl.DatasetMixtureConfig):
    """``trl.ScriptArguments`` + ``trl.DatasetMixtureConfig`` (``datasets:``), the card and optional evaluation.

    The mixture class is a base rather than a fourth parser dataclass so ``train_dpo`` keeps its three arguments.
    """

    dataset_mixture: dict | str | None = field(default=None, metadata={
        "help": "Shorthand for `datasets:` over configs of dataset_name with fractions, e.g. {pns: 0.5, "
                "rejection_sampling: 0.5} in YAML or 'pns=0.5,rejection_sampling=0.5' on the command line. "
                "Overrides dataset_config; ignored when `datasets` is given."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Cap on training rows after mixing."})
    negative_source: str | None = field(default=None, metadata={
        "help": "Label of the negatives (pns, rejection_sampling, ...) for the card and leaderboard; default: the "
                "dataset config or mixture."})
    method: str = field(default="dpo", metadata={"help": "Method label for the card/leaderboard (pns-dpo, rs-dpo)."})
    dataset_hub_id: str | None = field(default=None, metadata={
        "help": "Hub id the dataset is (or will be) published under, for the card when dataset_name is a local folder."})
    eval_results_file: str | None = field(default=None, metadata={
        "help": "A pns-hub results JSON (leaderboard schema) whose scores go into the card."})
    eval_benchmarks: str | None = field(default=None, metadata={
        "help": "Evaluate the trained model on these benchmarks (comma list, or 'all') and put the scores in the "
                "card; default: no evaluation."})
    eval_limit: int | None = field(default=None, metadata={"help": "Problems per benchmark for eval_benchmarks."})
    eval_max_new_tokens: int | None = field(default=None, metadata={"help": "Generation length for eval_benchmarks."})
    card_template: str = field(default="dpo.md", metadata={"help": "Model-card template in model_cards/."})


@dataclass
class PNSDPOConfig(trl.DPOConfig):
    """``trl.DPOConfig`` with hardware-aware defaults, so one YAML runs on a laptop CPU and on GPUs."""

    precompute_ref_log_probs: bool = field(default=True, metadata={
        "help": "Compute the reference model's log-probs once before training (default True here)."})

    def __post_init__(self):
        from pns_hub.hardware import apply_hardware_defaults

        apply_hardware_defaults(self)  # use_cpu, bf16 only with native support, no fp16, no checkpointing on CPU
        super().__post_init__()


# --------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------
def parse_mixture(mixture) -> dict[str, float] | None:
    """``{name: weight}`` from a dict, JSON text or ``a=0.5,b=0.5``; weights must be positive."""
    if mixture in (None, "", {}):
        return None
    if isinstance(mixture, str):
        text = mixture.strip()
        if text.startswith("{"):
            mixture = json.loads(text)
        else:
            mixture = {}
            for part in text.split(","):
                name, _, weight = part.partition("=")
                if not _:
                    raise ValueError(f"dataset_mixture entry {part!r} is not name=weight")
                mixture[name.strip()] = float(weight)
    if not isinstance(mixture, dict):
        raise ValueError(f"dataset_mixture must be a mapping config -> proportion, got {type(mixture).__name__}")
    out = {}
    for name, weight in mixture.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise ValueError(f"dataset_mixture['{name}'] must be a positive number, got {weight!r}")
        out[str(name)] = float(weight)
    return out


def _check_message_list(value, where: str, field_name: str, roles: set[str], exactly_one: bool = False) -> None:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}, field '{field_name}': must be a non-empty list of {{role, content}} messages")
    if exactly_one and len(value) != 1:
        raise ValueError(f"{where}, field '{field_name}': must hold exactly one assistant message, got {len(value)}")
    for i, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in roles \
                or not isinstance(message.get("content"), str):
            raise ValueError(f"{where}, field '{field_name}[{i}]': expected {{role in {sorted(roles)}, content: str}}, "
                             f"got {str(message)[:120]}")


def validate_preference_rows(dataset, name: str) -> None:
    """Raise on the first row that is not conversational preference format, naming config, row and field."""
    missing = [c for c in PREFERENCE_COLUMNS if c not in dataset.column_names]
    if missing:
        raise ValueError(f"dataset {name}: missing column(s) {missing}; has {dataset.column_names}")
    for i, row in enumerate(dataset.select_columns(list(PREFERENCE_COLUMNS))):
        where = f"dataset {name}, row {i}"
        _check_message_list(row["prompt"], where, "prompt", {"system", "user", "assistant"})
        _check_message_list(row["chosen"], where, "chosen", {"assistant"}, exactly_one=True)
        _check_message_list(row["rejected"], where, "rejected", {"assistant"}, exactly_one=True)


def _label(entry) -> str:
    return f"{entry.path}" + (f" [{entry.name}]" if entry.name else "") + f" split {entry.split}"


def _check_config(entry) -> int:
    """Load one mixture entry as ``trl.get_dataset`` will and validate every row; returns its length.

    Validating per entry (a cached second read) is what lets an error name the config and its row: TRL's mix is
    one concatenated dataset by the time we see it.
    """
    from datasets import load_dataset

    try:
        dataset = load_dataset(entry.path, entry.name, data_dir=entry.data_dir, data_files=entry.data_files,
                               split=entry.split)
    except ValueError as err:
        # pns-hub leaves an empty source out of the folder's configs ("BuilderConfig ... not found"); an empty parquet
        # shard written by other tools reads as "no data": either way, say which config is empty and the usual cause
        if "corresponds to no data" not in str(err) and not ("BuilderConfig" in str(err) and "not found" in str(err)):
            raise
        dataset = None
    if dataset is None or len(dataset) == 0:
        raise ValueError(f"{_label(entry)}: no preference pairs (the synthesis kept no verified-wrong, well-formed "
                         "negative for this source, so its card lists it with 0 rows; sample more problems or "
                         "completions)")
    validate_preference_rows(dataset, _label(entry))
    return len(dataset)


def mixture_config(script_args: DPOScriptArguments) -> trl.DatasetMixtureConfig:
    """TRL's mixture config: ``datasets`` as given, else the ``dataset_mixture`` shorthand, else one config."""
    from trl.scripts.utils import DatasetConfig

    if script_args.datasets:
        entries = list(script_args.datasets)
    else:
        if not script_args.dataset_name:
            raise ValueError("dataset_name (a Hub id or a local Hub-layout folder) or datasets is required")
        weights = parse_mixture(script_args.dataset_mixture) or {script_args.dataset_config: None}
        entries = [DatasetConfig(path=script_args.dataset_name, name=name, split=script_args.dataset_train_split,
                                 fraction=weight) for name, weight in weights.items()]
    return trl.DatasetMixtureConfig(datasets=entries, streaming=False)


def _composition(entries, lengths: list[int], total: int) -> dict[str, int]:
    """Rows per config in TRL's mix, for the card: all rows without fractions, else the rule ``DatasetConfig.fraction``
    documents (the first ``round(share * N)`` rows, N the largest mix without oversampling), checked against the
    mix TRL built so a change of that rule fails loudly instead of mislabelling the card."""
    names = [entry.name or "default" for entry in entries]
    fractions = [entry.fraction for entry in entries]
    if all(f is None for f in fractions):
        sizes = lengths
    else:
        shares = [f / sum(fractions) for f in fractions]
        size = min(n / w for n, w in zip(lengths, shares) if w > 0)
        sizes = [round(w * size) for w in shares]
    if sum(sizes) != total:
        raise RuntimeError(f"trl.get_dataset mixed {total} rows, expected {dict(zip(names, sizes))}")
    return dict(zip(names, sizes))


def load_training_data(script_args: DPOScriptArguments, seed: int = 42):
    """The training split from ``trl.get_dataset``: one config or a proportioned mixture, every row validated,
    only prompt/chosen/rejected kept, shuffled with the training seed."""
    mixture = mixture_config(script_args)
    lengths = [_check_config(entry) for entry in mixture.datasets]
    dataset = trl.get_dataset(mixture)["train"]
    composition = _composition(mixture.datasets, lengths, len(dataset))
    if not all(composition.values()):
        raise ValueError(f"dataset mixture {composition}: a config has too few rows for a non-empty mix")
    dataset = dataset.select_columns(list(PREFERENCE_COLUMNS)).shuffle(seed=seed)
    if script_args.max_train_samples is not None:
        dataset = dataset.select(range(min(len(dataset), script_args.max_train_samples)))
    logger.info("training on %d preference pairs: %s", len(dataset), composition)
    return dataset, composition


# --------------------------------------------------------------------------------------------------------------
# Card
# --------------------------------------------------------------------------------------------------------------
BENCHMARK_DATASETS = {
    # bench -> (Hub dataset id, pretty name) for model-index entries
    "gsm8k": ("openai/gsm8k", "GSM8K"), "math_500": ("HuggingFaceH4/MATH-500", "MATH-500"),
    "aime24": ("HuggingFaceH4/aime_2024", "AIME 2024"), "aime25": ("yentinglin/aime_2025", "AIME 2025"),
    "amc23": ("math-ai/amc23", "AMC 2023"), "minerva_math": ("math-ai/minervamath", "Minerva Math"),
    "olympiadbench": ("Hothan/OlympiadBench", "OlympiadBench"),
}


def card_metadata(model_name: str, base_model: str | None, datasets: list[str], scores: dict[str, float],
                  tags: list[str], num_samples: int = 1) -> str:
    """YAML header (without ``---``) built with huggingface_hub's ModelCardData/EvalResult -> ``model-index``."""
    from huggingface_hub import EvalResult, ModelCardData

    results = [
        EvalResult(task_type="text-generation", dataset_type=BENCHMARK_DATASETS.get(b, (b, b))[0],
                   dataset_name=BENCHMARK_DATASETS.get(b, (b, b))[1], metric_type="pass@1",
                   metric_name=f"pass@1 (avg over {num_samples} samples)", metric_value=round(100 * v, 2),
                   task_name="Math reasoning")
        for b, v in scores.items()
    ]
    data = ModelCardData(model_name=model_name, base_model=base_model, datasets=datasets or None,
                         library_name="transformers", license="apache-2.0", pipeline_tag="text-generation",
                         tags=tags, eval_results=results or None)
    return data.to_yaml()


def render_dpo_card(**context) -> str:
    from pns_hub.hub import render_card

    return render_card(context.pop("template", "dpo.md"), **context)


# --------------------------------------------------------------------------------------------------------------
# Train
# --------------------------------------------------------------------------------------------------------------
def _peft_config(model_args):
    if not model_args.use_peft:
        return None
    return trl.get_peft_config(model_args)


def _evaluate(script_args, output_dir: str, name: str) -> dict | None:
    if script_args.eval_results_file:
        from pns_hub.eval.results import ResultRecord

        path = Path(script_args.eval_results_file)
        return ResultRecord.from_dict(json.loads(path.read_text()), path).to_dict()
    if not script_args.eval_benchmarks:
        return None
    from pns_hub.eval.run import run_eval

    return run_eval(output_dir, benchmarks=[script_args.eval_benchmarks], limit=script_args.eval_limit,
                    max_new_tokens=script_args.eval_max_new_tokens, output_dir=Path(output_dir) / "eval",
                    method=script_args.method, model_name=name)


def _data_path(script_args) -> str:
    """``dataset_name``, or the first ``datasets:`` entry's path when the mixture is given in TRL's form."""
    return script_args.dataset_name or script_args.datasets[0].path


def _dataset_id(script_args) -> str | None:
    """The training data's Hub id: ``dataset_hub_id``, else the data path unless that is a local folder."""
    if script_args.dataset_hub_id:
        return script_args.dataset_hub_id
    return None if os.path.exists(_data_path(script_args)) else _data_path(script_args)


def _dataset_note(script_args) -> str | None:
    if os.path.exists(_data_path(script_args)):
        return f"training data read from the local folder `{_data_path(script_args)}`"
    return None


def train_dpo(script_args: DPOScriptArguments, training_args: trl.DPOConfig, model_args: trl.ModelConfig) -> str:
    """Train, save (weights + tokenizer + card), optionally evaluate and push; return the output folder."""
    from transformers import AutoTokenizer

    from pns_hub.hub import publish, save_model_folder

    spec = model_args.model_name_or_path or models.EMBEDDED_DEFAULT
    model_path = models.resolve_model_path(spec)
    base_model = models.hub_id(spec)  # a Hub id or None: a local path is a build note, never an id
    models.configure_threads()
    dataset, composition = load_training_data(script_args, seed=training_args.seed)

    tokenizer = AutoTokenizer.from_pretrained(model_path, revision=model_args.model_revision)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    training_args.model_init_kwargs = {
        **(training_args.model_init_kwargs or {}),
        "revision": model_args.model_revision, "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype if model_args.dtype not in (None, "auto") else models.best_dtype(),
        "trust_remote_code": training_args.trust_remote_code,
    }
    # One push, of the final folder with the card that has the scores: the Trainer's own push would upload
    # checkpoints (and a card without scores) before the evaluation exists.
    push, training_args.push_to_hub = training_args.push_to_hub, False
    trainer = trl.DPOTrainer(model=model_path, args=training_args, train_dataset=dataset,
                             processing_class=tokenizer, peft_config=_peft_config(model_args))
    lm_head.use_dense_lm_head_in_trainer(trainer)
    start = time.perf_counter()
    train_result = trainer.train()
    seconds = round(time.perf_counter() - start, 1)

    output_dir = training_args.output_dir
    repo_id = training_args.hub_model_id or Path(output_dir).name
    negative_source = script_args.negative_source or (
        "+".join(composition) if len(composition) > 1 else next(iter(composition)))
    context = dict(
        repo_id=repo_id, base_model=base_model, base_model_name=models.display_name(spec),
        dataset=_dataset_id(script_args) or f"unpublished local dataset '{Path(_data_path(script_args)).name}'",
        build_notes=[n for n in (models.build_note(spec), _dataset_note(script_args)) if n], composition=composition,
        negative_source=negative_source, method=script_args.method, train_loss=float(train_result.training_loss),
        global_steps=int(train_result.global_step), train_seconds=seconds, num_pairs=len(dataset),
        peft=bool(model_args.use_peft), hyperparameters=_hyperparameters(training_args, model_args),
        num_processes=int(trainer.accelerator.num_processes),
    )
    # Save first (the evaluation reads the saved folder), then rewrite the card once the scores are known. Saving
    # involves every rank (sharded weights); evaluating, the card and the push are the main process's alone.
    save_model_folder(trainer, tokenizer, output_dir, None)
    if not trainer.accelerator.is_main_process:
        return output_dir
    results = _evaluate(script_args, output_dir, repo_id)
    scores = (results or {}).get("scores", {})
    context["results"] = results
    dataset_ids = [_dataset_id(script_args)] if _dataset_id(script_args) else []
    context["card_metadata"] = card_metadata(repo_id, base_model, dataset_ids, scores,
                                             ["trl", "dpo", "pns-hub", "math", "negative-samples", script_args.method],
                                             (results or {}).get("num_samples", 1))
    card = render_dpo_card(template=script_args.card_template, **context)
    (Path(output_dir) / "README.md").write_text(card, encoding="utf-8")
    (Path(output_dir) / "pns_hub_training.json").write_text(json.dumps(
        {k: v for k, v in context.items() if k != "card_metadata"}, indent=2, default=str) + "\n")
    publish(output_dir, training_args.hub_model_id or repo_id, push, token=training_args.hub_token,
            commit_message=f"pns-hub DPO ({negative_source})")
    return output_dir


def _hyperparameters(training_args, model_args) -> dict:
    keys = ("learning_rate", "beta", "loss_type", "num_train_epochs", "max_steps", "per_device_train_batch_size",
            "gradient_accumulation_steps", "max_length", "precompute_ref_log_probs", "bf16", "seed")
    out = {k: getattr(training_args, k) for k in keys}
    if model_args.use_peft:
        out.update(lora_r=model_args.lora_r, lora_alpha=model_args.lora_alpha, lora_dropout=model_args.lora_dropout)
    return out
