"""DPO step time on the 8-pair GSM8K workload: TRL defaults in fp32 vs the tuned CPU settings.

Pairs: the gold GSM8K solution is ``chosen``; the same solution with its final answer changed is ``rejected`` (a
wrong solution that differs only where it matters, as PNS negatives do). One optimizer step = 8 pairs (~4k tokens).

naive: fp32 weights, ``DPOConfig`` defaults (gradient checkpointing on, reference model run every step, the 8 pairs
in one batch padded to the longest).
tuned: bf16 weights + ``bf16=True`` on a bf16-capable CPU (fp32 elsewhere), no gradient checkpointing (135M fits
easily), ``pns_hub.engines.lm_head``'s dense head in place of TRL's chunked one (as ``pns_hub.trainers.dpo`` does on CPU), and the 8
pairs taken one at a time by gradient accumulation (the demo's ``Budget.micro_batch``): the same pairs, loss and update
(``tests/test_demo_stages.py`` checks the update in f32), without computing over padding (27% of a batch of 8 here).
Both rows run the reference model's forward pass inside every step (the same work: an earlier version precomputed it
for the tuned row only, which flattered its ratio), every step trains the same ``num_pairs`` pairs (an epoch of one
step; an earlier version drew them at random from repeated copies, so steps differed in length), and the useful work
counted is policy forward + backward (6 x params x tokens) plus the reference forward (2 x params x tokens).
"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
import time

try:
    from benchmarks import _common
except ImportError:
    sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.dirname(__file__)))
    from benchmarks import _common


def pairs(n: int) -> list[dict]:
    """``n`` GSM8K (prompt, chosen=gold solution, rejected=same solution with a wrong final answer) rows."""
    from pns_hub.data import problems as data
    from pns_hub.engines import generation
    rows = data.load_problems("gsm8k_train", limit=n)
    out = []
    for r in rows:
        gold = r["solution"].strip()
        wrong = str(int(float(r["answer"].replace(",", ""))) + 7) if re.fullmatch(r"-?[\d,]+(\.\d+)?", r["answer"]) \
            else r["answer"] + "1"
        cut = gold.rfind(r["answer"])
        rejected = gold[:cut] + wrong + gold[cut + len(r["answer"]):] if cut >= 0 else gold + f"\n#### {wrong}"
        out.append({"prompt": generation.build_prompt(r["problem"]),
                    "chosen": [{"role": "assistant", "content": gold}],
                    "rejected": [{"role": "assistant", "content": rejected}]})
    return out


def step_times(tuned: bool, num_pairs: int, steps: int, max_length: int) -> dict:
    """Train ``steps`` steps of ``num_pairs`` pairs; returns per-step seconds, setup seconds and token count."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import DPOConfig, DPOTrainer

    from pns_hub import models
    use_bf16 = tuned and models.cpu_supports_bf16()
    dataset = Dataset.from_list(pairs(num_pairs))  # one step an epoch: every step the same pairs
    tokenizer = models.load_tokenizer(models.EMBEDDED_DEFAULT, padding_side="right")
    model = models.load_model(models.EMBEDDED_DEFAULT, dtype=torch.bfloat16 if use_bf16 else torch.float32).train()
    micro = 1 if tuned else num_pairs
    kwargs = dict(output_dir=tempfile.mkdtemp(prefix="pns-dpo-bench-"), per_device_train_batch_size=micro,
                  gradient_accumulation_steps=num_pairs // micro, max_steps=steps, max_length=max_length, logging_steps=1,
                  save_strategy="no", report_to="none", use_cpu=not torch.cuda.is_available(), bf16=use_bf16,
                  seed=0, dataloader_num_workers=0)
    if tuned:
        kwargs.update(gradient_checkpointing=False)
    config = DPOConfig(**kwargs)
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t = time.perf_counter()

        def on_step_end(self, *a, **k):
            times.append(time.perf_counter() - self.t)

    start = time.perf_counter()
    trainer = DPOTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                         callbacks=[Clock()])
    if tuned:
        from pns_hub.engines import lm_head
        lm_head.use_dense_lm_head_in_trainer(trainer)  # what pns_hub.trainers.dpo does: one bf16 head over scored tokens
    trainer.train()
    total = time.perf_counter() - start
    columns = trainer.train_dataset.column_names
    # prompt tokens count twice (they precede both the chosen and the rejected completion)
    tokens = sum(len(x) * (2 if col.startswith("prompt") else 1)
                 for col in columns if col in ("prompt_ids", "chosen_ids", "rejected_ids")
                 for x in trainer.train_dataset[col]) or None
    scored = sum(len(x) for col in ("chosen_ids", "rejected_ids") if col in columns
                 for x in trainer.train_dataset[col])  # the tokens whose logits the loss needs
    return {"steps": times, "total": total, "setup": total - sum(times), "tokens": tokens, "scored": scored,
            "params": sum(p.numel() for p in model.parameters()),
            "head_params": model.get_output_embeddings().weight.numel()}


def run(quick: bool = False) -> list[dict]:
    from pns_hub import models
    models.configure_threads()
    num_pairs, steps, max_length = (2, 2, 256) if quick else (8, 4, 1024)
    load0 = _common.load_avg()
    naive = step_times(False, num_pairs, steps, max_length)
    tuned = step_times(True, num_pairs, steps, max_length)
    # the first step pays one-off costs (allocator, oneDNN kernel choice): report the median of the rest
    med = lambda t: statistics.median(t[1:] if len(t) > 1 else t)  # noqa: E731
    n_s, t_s = med(naive["steps"]), med(tuned["steps"])
    tokens_per_step = tuned["tokens"] or 0  # the dataset is one step's pairs
    # useful work per step: policy forward+backward (6 N T) and reference forward (2 N T) on chosen+rejected
    gflop = 8 * tuned["params"] * tokens_per_step / 1e9 if tokens_per_step else None
    # the same, counting the LM head only where the loss needs logits (the completions), as the dense head computes it
    head, body = tuned["head_params"], tuned["params"] - tuned["head_params"]
    strict = 8 * (body * tokens_per_step + head * tuned["scored"]) / 1e9 if tokens_per_step else None
    tuned_dtype = "bf16" if models.cpu_supports_bf16() else "fp32 (no native bf16 on this CPU)"
    notes = [f"naive fp32 TRL defaults (grad ckpt, one batch of {num_pairs})",
             f"tuned {tuned_dtype} weights, no grad ckpt, dense LM head, one pair per forward (gradient accumulation)",
             "reference forward inside every step in both rows",
             f"~{tokens_per_step:.0f} tok/step, {tuned['scored']} of them scored"]
    if strict:
        notes.append(f"{strict / t_s:.1f} GFLOP/s counting the LM head on scored tokens only")
    notes += [f"steps naive {[round(x, 1) for x in naive['steps']]} tuned {[round(x, 1) for x in tuned['steps']]}",
              f"load {load0}->{_common.load_avg()}"]
    return [_common.row(
        f"DPO step ({num_pairs} GSM8K pairs)", round(n_s, 2), round(t_s, 2), "s/step", higher_is_better=False,
        achieved_gflops=round(gflop / t_s, 1) if gflop else None,
        roofline="bf16_gflops" if models.cpu_supports_bf16() else "fp32_gflops", notes="; ".join(notes))]


def main(argv=None) -> None:
    _common.script_main(run, argv)


if __name__ == "__main__":
    main()
