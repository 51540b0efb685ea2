"""GLOW (arXiv 2601.04992): SFT on positive *and* negative trajectories with per-sample weights from inter-epoch gain.

The rule, as in the authors' code (``Eureka-Maggie/GLOW``, ``CustomSeq2SeqTrainer.compute_loss``; see
``shared/research/glow_nsr.md`` section 1.3):

- per-sample loss l_i = mean token cross-entropy over that sample's supervised tokens (every sample counts equally,
  whatever its length);
- gain g_i = l_i(previous time sample i was trained, i.e. last epoch) - l_i(now); with no history, the previous loss
  falls back to the current micro-batch mean loss;
- weight w_i = clamp(alpha * (1 - sigmoid(beta * g_i)), min, max), detached: samples whose loss stalled or rose get
  more weight than those that improved;
- loss = mean_i(l_i * w_i); during the first epoch (``state.epoch < 1``) w_i = 1 (plain per-sample-mean SFT) but
  the history is still recorded.

Sample identity. The history is keyed by the dataset's ``sample_id`` (stable across epochs and shuffles). TRL's
pipeline drops unknown columns twice (``remove_unused_columns`` and the collator), so the trainer adds an integer
column ``glow_index`` (row -> ``sample_id`` lookup), declares it a signature column, and wraps the collator to carry
it through as a tensor. ``compute_loss`` pops it before the forward.

Gradient accumulation. The loss is a per-micro-batch mean, not normalised by ``num_items_in_batch``, so the class sets
``loss_is_scaled_for_ga = False`` and transformers divides it by the accumulation steps: the accumulated gradient is
the mean over the accumulated batch (for equal micro-batches), exactly as without accumulation.

Multiple processes. A shuffled distributed sampler sends a sample to a different rank each epoch, so a per-rank
history would usually miss last epoch's loss and silently fall back to the batch mean. Every step therefore gathers
the (index, loss) pairs of all ranks and every rank updates the same full history, as the authors'
``all_gather_object`` does. Weights are computed from the history *before* this step's update, so every rank sees the
same previous losses whatever the order of ranks.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from typing import Any

import torch
from trl import SFTTrainer

from pns_hub.engines import lm_head
from pns_hub.trainers.configs import GlowConfig


logger = logging.getLogger(__name__)

INDEX_COLUMN = "glow_index"


def glow_weights(
    current_loss: torch.Tensor,
    previous_loss: torch.Tensor,
    alpha: float = 1.0,
    beta: float = 20.0,
    min_weight: float = 0.5,
    max_weight: float = 5.0,
) -> torch.Tensor:
    """GLOW's per-sample weight, a pure function: clamp(alpha * (1 - sigmoid(beta * (prev - cur))), min, max).

    Detached on purpose: the weight rescales each sample's loss, it is not itself optimised (a gradient through the
    sigmoid would reward *raising* the current loss).
    """
    gain = previous_loss.detach().float() - current_loss.detach().float()
    return (alpha * (1.0 - torch.sigmoid(beta * gain))).clamp(min_weight, max_weight)


def previous_losses(
    indices: list[int], current: torch.Tensor, history: dict[int, float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Previous-epoch loss per sample, falling back to the micro-batch mean when a sample has no history.

    Returns ``(previous, has_history)``. The fallback gives a gain of ``mean - l_i``: a sample worse than its batch
    gets more weight, one better than it less, which is the authors' choice for ids never seen before.
    """
    mean = current.detach().float().mean()
    prev = torch.stack([
        torch.tensor(history[i], dtype=torch.float32, device=current.device) if i in history else mean
        for i in indices
    ]) if indices else current.detach().float()
    has = torch.tensor([i in history for i in indices], dtype=torch.bool, device=current.device)
    return prev, has


class _KeepIndexCollator:
    """Wrap TRL's collator so the integer ``glow_index`` column survives batching (TRL's drops unknown keys)."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        if not examples or INDEX_COLUMN not in examples[0]:
            return self.inner(examples)  # evaluation sets carry no index; compute_loss insists on it in training
        index = torch.tensor([int(example[INDEX_COLUMN]) for example in examples], dtype=torch.long)
        batch = self.inner([{k: v for k, v in example.items() if k != INDEX_COLUMN} for example in examples])
        batch[INDEX_COLUMN] = index
        return batch


class GlowTrainer(SFTTrainer):
    """``SFTTrainer`` whose loss is GLOW's per-sample weighted mean (see the module docstring for the rule).

    ``train_dataset`` must be a ``datasets.Dataset`` with a unique ``sample_id`` column (the trajectories dataset has
    one); ``trainer.glow_history`` maps sample id -> latest loss, and with ``args.glow_record`` ``trainer.glow_records``
    keeps one dict per micro-batch (epoch, ids, loss, previous loss, weight, first-epoch flag) for audits and tests.
    """

    # The per-micro-batch mean must be divided by the accumulation steps by transformers (see module docstring).
    loss_is_scaled_for_ga = False
    _tag_names = ["trl", "sft", "glow", "pns-hub"]

    def __init__(self, model, args: GlowConfig | None = None, train_dataset=None, data_collator=None, **kwargs):
        if args is None or not isinstance(args, GlowConfig):
            raise TypeError("GlowTrainer needs a GlowConfig (glow_alpha, glow_beta, ...)")
        if train_dataset is None:
            raise ValueError("GlowTrainer needs a train_dataset with a 'sample_id' column")
        if "sample_id" not in train_dataset.column_names:
            raise KeyError(f"train_dataset has no 'sample_id' column (columns: {train_dataset.column_names})")
        ids = [str(s) for s in train_dataset["sample_id"]]
        if len(set(ids)) != len(ids):
            seen, dupes = set(), []
            for s in ids:
                if s in seen:
                    dupes.append(s)
                seen.add(s)
            raise ValueError(f"sample_id must be unique; duplicated: {sorted(set(dupes))[:5]}")
        if INDEX_COLUMN in train_dataset.column_names:
            train_dataset = train_dataset.remove_columns(INDEX_COLUMN)
        train_dataset = train_dataset.add_column(INDEX_COLUMN, list(range(len(ids))))
        self.glow_sample_ids = ids
        self._glow_history: dict[int, float] = {}
        self.glow_records: list[dict] = []
        super().__init__(model=model, args=args, train_dataset=train_dataset, data_collator=data_collator, **kwargs)
        self.data_collator = _KeepIndexCollator(self.data_collator)

    # -- plumbing: keep the index column through remove_unused_columns ------------------------------------------------
    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        if INDEX_COLUMN not in self._signature_columns:
            self._signature_columns = list(self._signature_columns) + [INDEX_COLUMN]

    @property
    def glow_history(self) -> dict[str, float]:
        """Latest recorded per-sample loss, keyed by the dataset's ``sample_id``."""
        return {self.glow_sample_ids[i]: loss for i, loss in self._glow_history.items()}

    def _gather_pairs(self, index: torch.Tensor, losses: torch.Tensor) -> tuple[list[int], list[float]]:
        """(index, loss) pairs of every process; micro-batches may differ in size, so pad with index -1."""
        pairs = torch.stack([index.to(losses.device, torch.float64), losses.detach().to(torch.float64)], dim=1)
        if self.accelerator.num_processes > 1:
            pairs = self.accelerator.pad_across_processes(pairs, dim=0, pad_index=-1)
            pairs = self.accelerator.gather(pairs)
        pairs = pairs[pairs[:, 0] >= 0].cpu()
        return [int(i) for i in pairs[:, 0].tolist()], pairs[:, 1].tolist()

    # -- the loss ---------------------------------------------------------------------------------------------------
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        index = inputs.pop(INDEX_COLUMN, None)
        inputs["use_cache"] = False
        # TRL's fused LM head: per-token log-probs (zero on ignored positions) without building the full logits.
        outputs = model(**inputs, fused_lm_head=True)
        token_mask = outputs.label_mask
        per_sample = -(outputs.log_probs * token_mask).sum(dim=1) / token_mask.sum(dim=1).clamp(min=1)

        if mode == "train":
            if index is None:
                raise KeyError(f"GLOW: the training batch lost its '{INDEX_COLUMN}' column")
            indices = [int(i) for i in index.tolist()]
            first_epoch = self.state.epoch is None or self.state.epoch < 1.0
            prev, has_history = previous_losses(indices, per_sample, self._glow_history)
            if first_epoch:
                weights = torch.ones_like(per_sample, dtype=torch.float32)
            else:
                weights = glow_weights(
                    per_sample, prev, self.args.glow_alpha, self.args.glow_beta,
                    self.args.glow_min_weight, self.args.glow_max_weight,
                )
            loss = (per_sample * weights.to(per_sample.dtype)).mean()
            self._record(indices, per_sample, prev, has_history, weights, first_epoch)
        else:
            loss = per_sample.mean()

        self._log_metrics(mode, outputs, inputs)
        if return_outputs:
            with torch.no_grad():
                outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
            return loss, outputs
        return loss

    def _record(self, indices, per_sample, prev, has_history, weights, first_epoch: bool) -> None:
        """Log weight/gain statistics, keep an optional audit record, then update the (gathered) history."""
        gain = (prev - per_sample.detach().float())
        metrics = self._metrics["train"]
        if not first_epoch:
            w = self.accelerator.gather(weights.detach().float())
            g = self.accelerator.gather(gain)
            metrics["glow/weight_mean"].append(w.mean().item())
            metrics["glow/weight_min"].append(w.min().item())
            metrics["glow/weight_max"].append(w.max().item())
            metrics["glow/gain_mean"].append(g.mean().item())
            metrics["glow/frac_harder"].append((g < 0).float().mean().item())
        if self.args.glow_record:
            self.glow_records.append({
                "global_step": self.state.global_step,
                "epoch": float(self.state.epoch or 0.0),
                "first_epoch": first_epoch,
                "sample_ids": [self.glow_sample_ids[i] for i in indices],
                "loss": per_sample.detach().float().cpu().tolist(),
                "previous_loss": prev.cpu().tolist(),
                "has_history": has_history.cpu().tolist(),
                "weight": weights.detach().float().cpu().tolist(),
            })
        all_indices, all_losses = self._gather_pairs(torch.tensor(indices), per_sample.float())
        for i, value in zip(all_indices, all_losses):
            self._glow_history[i] = value

    def _log_metrics(self, mode: str, outputs, inputs) -> None:
        """The entropy / token-accuracy / token-count metrics SFTTrainer logs, which overriding its loss would lose."""
        valid = self.accelerator.gather_for_metrics(outputs.label_mask.sum()).sum()
        if outputs.entropy is not None:
            entropy = self.accelerator.gather_for_metrics(outputs.entropy.detach().sum()).sum()
            self._metrics[mode]["entropy"].append((entropy / valid).item() if valid > 0 else 0.0)
        if outputs.is_top1 is not None:
            correct = self.accelerator.gather_for_metrics(outputs.is_top1.sum()).sum()
            self._metrics[mode]["mean_token_accuracy"].append((correct / valid).item() if valid > 0 else 0.0)
        if mode == "train" and "attention_mask" in inputs:
            self._total_train_tokens += self.accelerator.gather_for_metrics(inputs["attention_mask"].sum()).sum().item()
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]


def summarize_records(records: list[dict]) -> dict:
    """Per-epoch mean loss and weight statistics from ``glow_records`` (for cards and logs)."""
    by_epoch: dict[int, dict[str, list[float]]] = defaultdict(lambda: {"loss": [], "weight": []})
    for record in records:
        epoch = int(record["epoch"]) if not record["first_epoch"] else 0
        by_epoch[epoch]["loss"] += record["loss"]
        by_epoch[epoch]["weight"] += record["weight"]
    return {
        epoch: {
            "samples": len(v["loss"]),
            "mean_loss": sum(v["loss"]) / max(1, len(v["loss"])),
            "mean_weight": sum(v["weight"]) / max(1, len(v["weight"])),
            "min_weight": min(v["weight"]) if v["weight"] else None,
            "max_weight": max(v["weight"]) if v["weight"] else None,
        }
        for epoch, v in sorted(by_epoch.items())
    }


def load_trajectories(dataset_name: str, config: str | None = "all", limit: int | None = None):
    """A trajectories dataset (local Hub-layout folder or Hub id) as a ``Dataset`` with ``messages`` and ``sample_id``."""
    from datasets import load_dataset

    dataset = load_dataset(dataset_name, config or "all", split="train")
    for column in ("messages", "sample_id"):
        if column not in dataset.column_names:
            raise KeyError(f"{dataset_name} [{config}]: no '{column}' column (columns: {dataset.column_names})")
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    if len(dataset) == 0:
        raise ValueError(f"{dataset_name} [{config}] is empty")
    return dataset


def train_glow(script_args, training_args: GlowConfig, model_args=None, train_dataset=None) -> dict:
    """Run GLOW SFT, save the model folder with its card (and push it when asked); return a summary.

    ``train_dataset`` (a Dataset with ``messages`` + ``sample_id``) overrides ``script_args.dataset_name``.
    """
    from pns_hub.trainers.common import model_folder, save_and_push, start_run

    run = start_run(training_args, model_args, padding_side="right")
    if train_dataset is None:
        train_dataset = load_trajectories(script_args.dataset_name, script_args.dataset_config,
                                          script_args.dataset_limit)
    labels = dict(sorted(Counter(train_dataset["label"]).items())) \
        if "label" in train_dataset.column_names else {}
    trainer = GlowTrainer(model=run.model_path, args=training_args, train_dataset=train_dataset,
                          processing_class=run.tokenizer, peft_config=run.peft_config)
    lm_head.use_dense_lm_head_in_trainer(trainer)
    result = trainer.train()
    folder = model_folder(script_args, training_args)
    summary = {
        **run.summary_head(),
        "dataset": script_args.dataset_name,
        "dataset_config": script_args.dataset_config or "all",
        "num_samples": len(train_dataset),
        "labels": labels,
        "epochs": training_args.num_train_epochs,
        "global_steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "glow": {"alpha": training_args.glow_alpha, "beta": training_args.glow_beta,
                 "min_weight": training_args.glow_min_weight, "max_weight": training_args.glow_max_weight},
        "hyperparameters": {k: getattr(training_args, k) for k in (
            "learning_rate", "lr_scheduler_type", "warmup_steps", "per_device_train_batch_size",
            "gradient_accumulation_steps", "max_length", "bf16", "seed")},
        "per_epoch": {str(k): v for k, v in summarize_records(trainer.glow_records).items()},
        "train_seconds": run.seconds(),
        "model_folder": str(folder),
    }
    return save_and_push(trainer, run, folder, "glow.md", summary, training_args, "Upload GLOW model with pns-hub")
