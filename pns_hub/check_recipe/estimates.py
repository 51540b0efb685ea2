"""From a parsed recipe to its per-GPU memory estimate: which tokens, which extra models, which reserved share.

Split from :mod:`pns_hub.check_recipe.check` so each task's rule reads in one place. Models other than the trained one
(the GRPO reward model and judge, synthesis's generator/policy/scorers) are named in a header line of the recipe,
``# check-recipe: reward_model=Qwen3-4B judge_model=Qwen3-4B``, because their paths are outputs of earlier stages
that do not exist yet; each name is a model config in the fixtures folder.
"""

from __future__ import annotations

import re

from pns_hub.check_recipe import memory as mem
TRUE = (True, "true", "True", 1)


def aux_models(header: str) -> dict[str, str]:
    """``field=ModelConfigName`` pairs from the ``# check-recipe:`` header line."""
    found = re.search(r"#\s*check-recipe:\s*(.*)", header)
    return dict(pair.split("=", 1) for pair in found.group(1).split()) if found else {}


def aux_name(recipe, named: dict[str, str], field: str, notes: list[str]) -> str:
    """The model config of ``field``: named in the header, else the recipe's own model (said in a note)."""
    if field in named:
        return named[field]
    notes.append(f"{field}: no '# check-recipe: {field}=<Model>' header; assumed to be a {recipe.model_key}")
    return recipe.model_key


def _aux_params(name: str) -> int:
    from pns_hub.check_recipe import files as cr
    config = cr.load_model_config(cr.find_model_config(name))
    return cr.count_parameters(cr.meta_model(config))


def _dtype(recipe) -> str | None:
    raw = recipe.raw
    return raw.get("dtype") or (raw.get("model_init_kwargs") or {}).get("dtype")


def _precision(recipe) -> str:
    """Sharded runs keep fp32 master weights whatever the model dtype; DDP trains in the dtype it loaded."""
    strategy = recipe.launch.strategy
    if strategy.name.startswith(("zero", "fsdp")):
        return strategy.precision
    return "bf16" if str(_dtype(recipe)).lower() in ("bfloat16", "bf16", "float16", "fp16") else "fp32"


def _checkpointing(raw: dict) -> bool:
    """As written in the YAML (the parsed config has it switched off on CPU); TRL's default is on."""
    for key in ("gradient_checkpointing", "activation_checkpointing"):
        if raw.get(key) is not None:
            return raw[key] in TRUE
    return True


def _lora_params(shape: mem.ModelShape, raw: dict) -> int:
    """A LoRA adapter's size: r x (in + out) per targeted projection per layer."""
    r = int(raw.get("lora_r", 16))
    dims = {"q_proj": (shape.hidden, shape.q_dim), "k_proj": (shape.hidden, shape.kv_dim),
            "v_proj": (shape.hidden, shape.kv_dim), "o_proj": (shape.q_dim, shape.hidden),
            "gate_proj": (shape.hidden, shape.intermediate), "up_proj": (shape.hidden, shape.intermediate),
            "down_proj": (shape.intermediate, shape.hidden)}
    targets = raw.get("lora_target_modules") or ["q_proj", "v_proj"]
    return shape.layers * sum(r * sum(dims[t]) for t in targets if t in dims)


def _tokens(recipe, training) -> tuple[int, int, int]:
    """(tokens, logit tokens, sequences) per micro-batch per GPU."""
    b = training.per_device_train_batch_size
    if recipe.task in ("pns_generator", "nsr"):
        completion = training.max_completion_length
        from pns_hub.check_recipe.files import ASSUMED_PROMPT_TOKENS
        return b * (ASSUMED_PROMPT_TOKENS + completion), b * completion, b
    length = training.max_length
    if recipe.task in ("dpo", "reward_model"):
        return 2 * b * length, (0 if recipe.task == "reward_model" else 2 * b * length), 2 * b
    return b * length, b * length, b


def _grpo_extras(recipe, training, shape, gpu_bytes, notes) -> tuple[float, int, dict]:
    """vLLM share (colocate) or extra GPUs (server), and the per-rank reward model / judge of the PNS reward."""
    reserved, server_gpus, extra = 0.0, 0, {}
    if training.use_vllm:
        if training.vllm_mode == "colocate":
            util, tp = training.vllm_gpu_memory_utilization, training.vllm_tensor_parallel_size
            reserved = util * gpu_bytes
            capacity = mem.vllm_kv_capacity_tokens(shape, gpu_bytes, util, tp)
            rounds = training.steps_per_generation or training.gradient_accumulation_steps
            need = training.per_device_train_batch_size * rounds * (training.max_completion_length + 512)
            notes.append(f"vLLM colocate: {util:.2f} of each GPU; its KV cache holds ~{max(capacity, 0):,} tokens "
                         f"(one generation round needs ~{need:,})")
            if capacity <= 0:
                notes.append("vLLM colocate share cannot even hold the bf16 weights: raise "
                             "vllm_gpu_memory_utilization or vllm_tensor_parallel_size")
        else:
            tp = re.search(r"vllm-serve.*--tensor[-_]parallel[-_]size\s+(\d+)", recipe.header)
            dp = re.search(r"vllm-serve.*--data[-_]parallel[-_]size\s+(\d+)", recipe.header)
            server_gpus = (int(tp.group(1)) if tp else 1) * (int(dp.group(1)) if dp else 1)
            notes.append(f"vLLM server mode: {server_gpus} more GPU(s) run `trl vllm-serve`")
    models = aux_models(recipe.header)
    script = recipe.parsed[0]
    for field, label in (("reward_model_path", "reward_model_scorer"), ("judge_model", "judge_model")):
        if getattr(script, field, None):
            extra[label] = 2 * _aux_params(aux_name(recipe, models, field, notes))  # bf16, on every rank
    return reserved, server_gpus, extra


def training_estimate(recipe, shape: mem.ModelShape, gpu_bytes: float) -> dict:
    script, training = recipe.parsed[0], recipe.parsed[1]
    model_args = recipe.parsed[2] if len(recipe.parsed) > 2 else None
    raw, notes, strategy = recipe.raw, [], recipe.launch.strategy
    strategy = mem.Strategy(strategy.name, strategy.shard_params, strategy.shard_grads, strategy.shard_optimizer,
                            strategy.offload_optimizer, _precision(recipe))
    peft = bool(model_args and getattr(model_args, "use_peft", False))
    trainable = _lora_params(shape, raw) if peft else None
    tokens, logit_tokens, _ = _tokens(recipe, training)
    reference, reserved, server_gpus, extra = 0, 0.0, 0, {}
    if recipe.task == "dpo" and not (training.precompute_ref_log_probs or peft):
        reference = shape.params
    if recipe.task in ("pns_generator", "nsr"):
        if training.beta > 0:
            reference = shape.params
        reserved, server_gpus, extra = _grpo_extras(recipe, training, shape, gpu_bytes, notes)
    if strategy.precision == "bf16" and training.learning_rate < 1e-5:
        notes.append(f"DDP on bf16 weights without fp32 master copies: an update of lr {training.learning_rate:g} "
                     "is below bf16's resolution (2^-8 relative) for most weights; use zero2/zero3/fsdp")
    ref_bytes = 2 if strategy.precision != "fp32" else 4

    def estimate_for(world: int) -> mem.MemoryEstimate:
        est = mem.training_memory(shape, world, strategy, tokens=tokens, logit_tokens=logit_tokens,
                                  checkpointing=_checkpointing(raw), trainable_params=trainable,
                                  reference_params=reference, reference_bytes_per_param=ref_bytes,
                                  reserved_bytes=reserved)
        est.terms.update(extra)
        return est

    world = recipe.launch.world_size
    est = estimate_for(world)
    needed = mem.gpus_needed(estimate_for, gpu_bytes)
    return {"memory_gib": est.gib(), "fits": est.total <= gpu_bytes, "gpus_configured": world + server_gpus,
            "gpus_needed": needed + server_gpus if needed else None, "tokens_per_micro_batch": tokens,
            "activation_checkpointing": _checkpointing(raw), "precision": strategy.precision, "notes": notes}


def synthesis_models(args) -> dict[str, str]:
    """field -> spec of the models a synthesis run loads (mirrors ``synthesis_shard.process_shard``'s roles): samplers
    per source, the policy whenever chosen sides come from it, and the two scorers."""
    from pns_hub.synthesis import baselines as negatives
    fields = {}
    if negatives.PNS in args.sources:
        fields["generator"] = args.generator
    if negatives.REJECTION_SAMPLING in args.sources or args.chosen_from_policy:
        fields["policy"] = args.policy
    if negatives.PROMPTED_WRONG in args.sources:
        fields["instruct_model"] = args.instruct_model
    return fields


def inference_estimate(recipe, shape: mem.ModelShape, gpu_bytes: float) -> dict:
    """Generation: bf16 weights + KV cache (transformers), or vLLM's ``gpu_memory_utilization`` share; synthesis
    adds every other model it loads into the same process (samplers by distinct spec, RM and judge scorers)."""
    args, notes, named = recipe.parsed[0], [], aux_models(recipe.header)
    samplers, scorers = {}, {}
    if recipe.task == "evaluate":
        backend, batch, new = args.backend, args.batch_size * args.num_samples, args.max_new_tokens or 4096
    elif recipe.task == "synthesize":
        backend, batch, new = args.backend, args.batch_size, args.max_new_tokens
        samplers = synthesis_models(args)
        scorers = {f: getattr(args, f) for f in ("reward_model", "judge_model") if getattr(args, f)}
    else:
        backend, batch, new = "transformers", args.batch_size, args.max_new_tokens
    specs = {}  # distinct spec -> (first field that loads it, model config name): the same spec loads once
    for f, spec in list(samplers.items()) + list(scorers.items()):
        if spec not in specs:
            specs[spec] = (f, aux_name(recipe, named, f, notes))
    est = mem.inference_memory(shape, sequences=batch, seq_len=512 + new)
    first = next(iter(samplers.values()), None)
    for spec, (f, name) in specs.items():
        if spec != first:
            est.terms[f"{f}:{name}"] = 2 * _aux_params(name)
    engines = len(set(samplers.values())) or 1
    if backend == "vllm":
        util = getattr(args, "vllm_gpu_memory_utilization", 0.9)  # 0.9: vLLM's default
        capacity = mem.vllm_kv_capacity_tokens(shape, gpu_bytes, util)
        notes.append(f"vLLM engine takes {util:.0%} of the GPU; KV cache ~{max(capacity, 0):,} tokens")
        scored = {k: v for k, v in est.terms.items() if k.split(":", 1)[0] in scorers}
        est = mem.MemoryEstimate({"vllm_share": util * gpu_bytes} | scored)
        if engines > 1:
            notes.append(f"{engines} different sampling models -> {engines} vLLM engines in one process, each "
                         f"wanting {util:.0%} of the GPU: the second fails. Run one model per process "
                         "(e.g. sources: [pns] with chosen_from_policy: false)")
    fits = est.total <= gpu_bytes and not (backend == "vllm" and engines > 1)
    return {"memory_gib": est.gib(), "fits": fits, "gpus_configured": recipe.launch.world_size,
            "gpus_needed": 1 if fits else None,
            "notes": notes + (["data parallel: each GPU runs its own copy over a share of the problems"]
                              if recipe.launch.world_size > 1 else [])}


def estimate(recipe, shape: mem.ModelShape, gpu_bytes: float) -> dict:
    from pns_hub.check_recipe.files import TRAINING_TASKS

    if recipe.task in TRAINING_TASKS:
        return training_estimate(recipe, shape, gpu_bytes)
    return inference_estimate(recipe, shape, gpu_bytes)
