"""What the GLOW and PSR/NSR entry points do around ``trainer.train()``: resolve the model, load its tokenizer, hold
back the Hub push, and at the end save the folder with its card and push it once.

Why one place: the push must be held back before the Trainer exists (``push_to_hub=True`` makes TRL's Trainer reach
the Hub at init and push checkpoints without the card), then done once, of the final folder; two copies of that
sequence drift apart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pns_hub import hub, models


@dataclass
class TrainingRun:
    """The resolved model and tokenizer of one training run, the held-back push flag, and its start time."""

    spec: str
    model_path: str
    tokenizer: object
    push: bool
    start: float
    peft_config: object = None

    def seconds(self) -> float:
        return round(time.perf_counter() - self.start, 1)

    def summary_head(self) -> dict:
        """The summary fields every card names: the base model's Hub id and display name."""
        return {"base_model": models.hub_id(self.spec), "base_model_name": models.display_name(self.spec)}


def start_run(training_args, model_args=None, padding_side: str = "right") -> TrainingRun:
    """Apply ``model_args`` (the embedded default when None) to ``training_args``, hold back the push, and load the
    tokenizer with ``padding_side`` (right for SFT, left for RL generation)."""
    from trl import ModelConfig, get_peft_config

    model_args = model_args or ModelConfig(model_name_or_path=models.EMBEDDED_DEFAULT)
    spec = model_args.model_name_or_path or models.EMBEDDED_DEFAULT
    models.apply_model_config(training_args, model_args)
    push, training_args.push_to_hub = training_args.push_to_hub, False  # one push, of the final folder with its card
    start = time.perf_counter()  # train_seconds counts loading the model's files, as before this module
    return TrainingRun(spec=spec, model_path=models.resolve_model_path(spec), push=push, start=start,
                       tokenizer=models.load_tokenizer(spec, revision=model_args.model_revision,
                                                       padding_side=padding_side),
                       peft_config=get_peft_config(model_args))


def model_folder(script_args, training_args) -> Path:
    """``--model_folder``, else ``<output_dir>/final``."""
    return Path(script_args.model_folder or Path(training_args.output_dir) / "final")


def save_and_push(trainer, run: TrainingRun, folder: Path, template: str, summary: dict, training_args,
                  message: str) -> dict:
    """Render the card ``template`` from ``summary``, save the model folder with it, and push it (main process only)
    when the run was asked to, noting the URL in ``summary`` under ``pushed``."""
    card = hub.render_card(template, summary=summary, repo_id=training_args.hub_model_id or folder.name,
                           model_name=training_args.hub_model_id)  # what models.hub_id reads when this is a base
    hub.save_model_folder(trainer, run.tokenizer, folder, card)
    if trainer.is_world_process_zero():
        url = hub.publish(str(folder), training_args.hub_model_id, run.push, token=training_args.hub_token,
                          commit_message=message)
        if url:
            summary["pushed"] = url
    return summary
