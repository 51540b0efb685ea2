"""Does each engine sample from the rule it claims? A probability-integral-transform (PIT) check, per token.

Why: the NSR evaluation found OpenVINO's samples right 1.4 points more often than our torch loop's on the same
models and problems (``experiment_report.engine_agreement``), while greedy tokens agree exactly. Counting right
answers needs thousands of samples to see a point; this check uses every sampled *token* instead. For each one, the
reference (the torch f32 model, teacher-forced on the sampled ids) gives the temperature + nucleus distribution
(:func:`pns_hub.engines.generation._nucleus`, tokens sorted by probability); with ``F`` the mass before the sampled token,
``p`` its own and ``V ~ U(0, 1)``, ``u = F + V p`` is exactly U(0, 1) and independent across tokens when the
engine samples from that distribution. Only tokens where the nucleus held more than one token are tested (most
tokens of a fine-tuned model have a one-token nucleus: counting them only dilutes). A Kolmogorov-Smirnov distance
above ``1.36 / sqrt(n)`` rejects uniformity at 5%. A second, sharper statistic: the sampled tokens' surprisal
``-log p`` minus its expectation under the rule (the nucleus entropy), summed and divided by its standard deviation
(a z score; positive when the engine picks less likely tokens, as a higher temperature would).

Three samplers on the same prompts (each with its own seeds: only the distribution is compared): OpenVINO's
pipeline, our loop one prompt per batch (no padding), and our loop batched as ``generation.generate`` batches it
(left padding, finished rows compacted away).

    python -m benchmarks.sampling_calibration /path/to/warmup-testbed --prompts 48 --tag warmup-epyc
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import datetime, timezone

from benchmarks._common import RESULTS_DIR, env_setup, load_avg, machine_info

K, PER_BATCH = 4, 16


def _rows(toks, lengths, sources, k=K):
    """(prompt index, sampled ids up to and including the stop token) for each output row."""
    out = []
    for row in range(toks.shape[0]):
        seq, n = toks[row].tolist(), lengths[row].item()
        out.append((sources[row // k], seq[:n + 1] if n >= 0 else seq))
    return out


def sample_torch(model, tok, encoded, params, batched: bool, eos):
    import torch

    from pns_hub.engines import generation
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i])) if batched else list(range(len(encoded)))
    per = PER_BATCH if batched else 1
    out = []
    for b in range(math.ceil(len(order) / per)):
        idx = order[b * per:(b + 1) * per]
        batch = tok.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt", padding=True)
        generator = torch.Generator().manual_seed(params.seed + b)
        with torch.inference_mode():
            toks, lengths = generation._decode_compacting(
                model, batch["input_ids"], batch["attention_mask"], K, params.max_new_tokens, True,
                params.temperature, params.top_p, eos, tok.pad_token_id, generator)
        out += _rows(toks, lengths, idx)
    return out


def sample_openvino(spec, encoded, params, eos):
    import numpy as np
    import openvino
    import openvino_genai

    from pns_hub.engines import openvino as openvino_backend
    pipe = openvino_backend.pipeline(str(openvino_backend.export(spec)), 2, 1)
    configs = []
    for i in range(len(encoded)):
        c = openvino_genai.GenerationConfig()
        c.max_new_tokens, c.num_return_sequences, c.stop_token_ids = params.max_new_tokens, K, set(eos)
        c.do_sample, c.temperature, c.top_p, c.top_k, c.rng_seed = True, params.temperature, params.top_p, 0, \
            params.seed + i
        configs.append(c)
    ids = [openvino.Tensor(np.array([e], dtype=np.int64)) for e in encoded]
    return [(i, list(seq)) for i, res in enumerate(pipe.generate(ids, configs)) for seq in res.m_generation_ids]


def pit(model, encoded, samples, params, rng) -> dict:
    """The randomised PIT values of every sampled token under the reference, summarised (see the module doc)."""
    import numpy as np
    import torch

    from pns_hub.engines import generation
    us, outside, tokens, excess, variance = [], 0, 0, 0.0, 0.0
    for i, seq in samples:
        start = len(encoded[i]) - 1
        with torch.inference_mode():
            logits = model(torch.tensor([encoded[i] + seq])).logits[0, start:start + len(seq)].float()
        probs, idx = generation._nucleus(logits / params.temperature, params.top_p)
        for t, token in enumerate(seq):
            tokens += 1
            j = (idx[t] == token).nonzero().item()
            p = probs[t, j].item()
            if p == 0:
                outside += 1
                continue
            if p == 1:  # a one-token nucleus: no choice was made, so nothing to test (and most tokens are these)
                continue
            us.append(probs[t, :j].sum().item() + rng.random() * p)
            q = probs[t][probs[t] > 0].double()
            surprisal = -q.log()
            mean = float((q * surprisal).sum())  # the entropy: E[-log p] under the rule
            excess += -math.log(p) - mean
            variance += float((q * surprisal ** 2).sum()) - mean ** 2
    u = np.sort(np.array(us))
    n = len(u)
    ks = float(np.max(np.maximum(np.arange(1, n + 1) / n - u, u - np.arange(n) / n))) if n else float("nan")
    return {"tokens": tokens, "choice_tokens": n, "outside_nucleus": outside,
            "mean_u": round(float(u.mean()), 4), "mean_u_se": round(float(u.std() / math.sqrt(n)), 4),
            "ks": round(ks, 4), "ks_crit_5pct": round(1.36 / math.sqrt(n), 4),
            "uniform_at_5pct": ks < 1.36 / math.sqrt(n), "deciles": np.histogram(u, bins=10, range=(0, 1))[0].tolist(),
            # > 0: the engine picks less likely tokens than the rule (as a higher temperature would); |z| > 1.96
            # rejects the rule at 5%.
            "surprisal_excess_per_choice": round(excess / max(n, 1), 4),
            "surprisal_z": round(excess / math.sqrt(variance), 2) if variance else None,
            "mean_len": round(float(np.mean([len(s) for _, s in samples])), 2)}


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    import torch

    from pns_hub.data import problems as data

    from pns_hub.engines import generation

    from pns_hub import models

    from pns_hub.engines import openvino as openvino_backend
    env_setup()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default=models.EMBEDDED_DEFAULT)
    parser.add_argument("--prompts", type=int, default=16, help="testbed test problems (x 4 samples each)")
    parser.add_argument("--tag", default="latest")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    tok, model = models.load_tokenizer(args.model), models.load_model(args.model, dtype="float32")
    rows = data.load_problems("testbed")[:args.prompts]
    encoded = [tok(generation._render(tok, generation.build_prompt(r["problem"])), add_special_tokens=False)[
        "input_ids"] for r in rows]
    eos = generation._eos_ids(model, tok)
    params = generation.SamplingParams(num_samples=K, max_new_tokens=128, temperature=0.6, top_p=0.95, seed=0)
    samplers = {"compact_single": lambda: sample_torch(model, tok, encoded, params, False, eos),
                "compact_batched": lambda: sample_torch(model, tok, encoded, params, True, eos)}
    if openvino_backend.available():
        samplers = {"openvino": lambda: sample_openvino(args.model, encoded, params, eos), **samplers}
    rng, report, load_start = np.random.default_rng(0), {}, load_avg()
    for name, sample in samplers.items():
        start = time.perf_counter()
        report[name] = {**pit(model, encoded, sample(), params, rng), "seconds": round(time.perf_counter() - start, 1)}
        print(name, json.dumps(report[name]), flush=True)
    out = {"engines": report, "model": models.display_name(args.model), "prompts": args.prompts, "samples": K,
           "sampling": {"temperature": 0.6, "top_p": 0.95, "max_new_tokens": 128},
           "command": "python -m benchmarks.sampling_calibration " + " ".join(argv or sys.argv[1:]),
           "machine": machine_info(), "load": [load_start, load_avg()],
           "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"sampling_calibration-{args.tag}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
