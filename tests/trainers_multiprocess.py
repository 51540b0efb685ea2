"""Run one NSR step and two GLOW epochs on a tiny model and dump what each process computed, as JSON.

Launched by ``tests/test_trainers_multiprocess.py`` twice with the same data and seed: as one plain process and under
``torchrun --nproc_per_node 2`` (DDP over gloo on CPU). The global batch is the same in both (per-device batch =
global batch / processes), so every advantage (NSR) and every per-sample loss, previous loss and weight (GLOW) must
agree; the test compares them. Not a test module itself (no ``test_`` prefix): pytest must not collect it.

Usage: python tests/trainers_multiprocess.py MODEL_DIR OUT_DIR
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path


# Correctness per problem (None: the verifier could not decide). With w_reinforce the three verdicts give three
# different advantages (+0.1, -1, 0), and however the sampler orders the 4 problems, the two ranks' halves differ,
# so a rank reading the other rank's slice is always visible.
MARKS = {0: 1.0, 1: 0.0, 2: None, 3: 0.0}
NSR_GLOBAL_BATCH = 8  # 4 problems x 2 generations
GLOW_GLOBAL_BATCH = 4  # 8 samples -> 2 optimizer steps per epoch


def _marks_reward(completions, problem_index, **kwargs):
    return [MARKS[int(k)] for k in problem_index]


def run_nsr(model_dir: str, out: Path, world: int, rank: int) -> dict:
    """One W-REINFORCE step; return this rank's rows: which problem each row is, and the advantage it got."""
    from datasets import Dataset

    from pns_hub.trainers.configs import NSRConfig
    from pns_hub.trainers.nsr import NSRTrainer

    rows = [{"prompt": [{"role": "user", "content": f"Problem {k}: what is {k} + {k}?"}], "problem_index": k}
            for k in MARKS]
    args = NSRConfig(
        output_dir=str(out / "nsr"), use_cpu=True, bf16=False, per_device_train_batch_size=NSR_GLOBAL_BATCH // world,
        num_generations=2, max_completion_length=4, max_steps=1, learning_rate=1e-3, temperature=1.0,
        report_to="none", save_strategy="no", gradient_checkpointing=False, nsr_mode="w_reinforce", nsr_lambda=0.1,
        seed=0, logging_steps=1,
    )
    trainer = NSRTrainer(model=model_dir, reward_funcs=[_marks_reward], args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=_tokenizer(model_dir, "left"))
    trainer.train()
    batch = trainer.nsr_last_batch
    prompts = trainer.processing_class.batch_decode(batch["prompt_ids"], skip_special_tokens=True)
    return {
        "problem": [int(re.search(r"Problem (\d+)", p).group(1)) for p in prompts],
        "advantages": batch["advantages"].tolist(),
        "correct": [None if c != c else c for c in batch["correct"].tolist()],  # NaN -> None for JSON
    }


def run_glow(model_dir: str, out: Path, world: int, rank: int) -> dict:
    """Two GLOW epochs; return this rank's per-micro-batch records and its (gathered) loss history."""
    from datasets import Dataset

    from pns_hub.trainers.configs import GlowConfig
    from pns_hub.trainers.glow import GlowTrainer

    rows = [{"sample_id": f"p{i}/0", "messages": [
        {"role": "user", "content": f"What is {i} + {i}?"},
        {"role": "assistant", "content": f"{i} + {i} = {2 * i + i % 2}. The answer is \\boxed{{{2 * i + i % 2}}}."},
    ]} for i in range(8)]
    # alpha 2, beta 5 and a wide clamp keep the weights off the bounds, so they are sensitive to the previous loss.
    args = GlowConfig(
        output_dir=str(out / "glow"), use_cpu=True, bf16=False, num_train_epochs=2,
        per_device_train_batch_size=GLOW_GLOBAL_BATCH // world, gradient_accumulation_steps=1, learning_rate=5e-3,
        report_to="none", logging_steps=1, save_strategy="no", gradient_checkpointing=False, glow_record=True,
        max_length=64, glow_alpha=2.0, glow_beta=5.0, glow_min_weight=0.01, glow_max_weight=5.0, seed=0,
    )
    trainer = GlowTrainer(model=model_dir, args=args, train_dataset=Dataset.from_list(rows),
                          processing_class=_tokenizer(model_dir, "right"))
    trainer.train()
    return {"records": trainer.glow_records, "history": trainer.glow_history}


def _tokenizer(model_dir: str, side: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = side
    return tokenizer


def main(argv: list[str]) -> None:
    import torch

    model_dir, out = argv[0], Path(argv[1])
    torch.set_num_threads(1)  # same arithmetic in both launches, and no oversubscription of a shared CPU
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    result = {"world": world, "rank": rank, "nsr": run_nsr(model_dir, out, world, rank),
              "glow": run_glow(model_dir, out, world, rank)}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rank{rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
