"""Per-GPU memory arithmetic for a recipe: weights, gradients, optimizer states, activations, logits, a reference
model and a vLLM share, under DDP, DeepSpeed ZeRO-1/2/3 or FSDP sharding.

Why arithmetic and not a measurement: the recipes target 8x80 GB GPUs and the machines that check them have none.
The numbers are estimates meant to answer "does this recipe fit, and on how many GPUs?" before anybody books a node;
every constant below says where it comes from, and ``pns-hub check-recipe`` prints the breakdown so a user can see
which term dominates. Bytes everywhere; GiB only when printing.

Conventions (the ZeRO paper's, Rajbhandari et al. 2020, section 3):
* ``mixed``: bf16 weights and gradients, fp32 master copy + Adam m + v in the optimizer = 2 + 2 + 12 = 16 bytes/param
  (DeepSpeed's bf16 mode; FSDP2 mixed precision keeps fp32 sharded params and grads + fp32 Adam = 4 + 4 + 8 = 16 too).
* ``bf16``: weights, gradients and torch AdamW states all bf16 = 2 + 2 + 4 = 8 bytes/param (plain DDP on a bf16 model).
* ``fp32``: 4 + 4 + 8 = 16 bytes/param (DDP on an fp32 model, bf16 autocast only for the matmuls).
"""

from __future__ import annotations

from dataclasses import dataclass, field


GIB = 1024 ** 3
# bytes per parameter: (weights, gradients, optimizer states)
PRECISION_BYTES = {"mixed": (2, 2, 12), "fsdp_mixed": (4, 4, 8), "bf16": (2, 2, 4), "fp32": (4, 4, 8)}
# Logits of a causal-LM training step, per token and vocabulary entry: bf16 logits (2) + their fp32 upcast for the
# log-softmax (4) + the bf16 gradient of the logits (2). TRL's DPO/GRPO/SFT all materialise full-vocab logits.
LOGIT_BYTES = 8
# Not modelled term by term: CUDA context, NCCL buffers, ZeRO-3 prefetch buckets, allocator fragmentation. A guess
# from common practice (ours): 1.5 GiB fixed plus 10% of everything else.
OVERHEAD_FIXED = 1.5 * GIB
OVERHEAD_FRACTION = 0.10
GPU_COUNTS = (1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class Strategy:
    """Which of (parameters, gradients, optimizer states) are split across the data-parallel ranks."""

    name: str
    shard_params: bool = False
    shard_grads: bool = False
    shard_optimizer: bool = False
    offload_optimizer: bool = False  # DeepSpeed offload_optimizer_device: cpu -> optimizer states leave the GPU
    precision: str = "mixed"


STRATEGIES = {
    "single": Strategy("single"),
    "ddp": Strategy("ddp"),
    "zero1": Strategy("zero1", shard_optimizer=True),
    "zero2": Strategy("zero2", shard_grads=True, shard_optimizer=True),
    "zero3": Strategy("zero3", shard_params=True, shard_grads=True, shard_optimizer=True),
    "fsdp_full_shard": Strategy("fsdp_full_shard", True, True, True, precision="fsdp_mixed"),
    "fsdp_shard_grad_op": Strategy("fsdp_shard_grad_op", False, True, True, precision="fsdp_mixed"),
}


@dataclass(frozen=True)
class ModelShape:
    """The few numbers of a decoder config that memory depends on."""

    params: int
    hidden: int
    intermediate: int
    layers: int
    q_dim: int
    kv_dim: int
    vocab: int

    @classmethod
    def from_config(cls, config, params: int) -> "ModelShape":
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        return cls(params, config.hidden_size, config.intermediate_size, config.num_hidden_layers,
                   config.num_attention_heads * head_dim, kv_heads * head_dim, config.vocab_size)


@dataclass
class MemoryEstimate:
    """Bytes per GPU by term; ``total`` includes the overhead allowance."""

    terms: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.terms.values())

    def gib(self) -> dict[str, float]:
        return {k: round(v / GIB, 2) for k, v in self.terms.items()} | {"total": round(self.total / GIB, 2)}


def activation_bytes_per_token(shape: ModelShape, checkpointing: bool) -> float:
    """bf16 activations kept for backward, per token, for a Llama/Qwen block with flash/SDPA attention (no s^2 term).

    Per layer: block input and RMSNorm output (2h), q and attention output (2 q_dim), k and v (2 kv_dim), second
    norm input and output (2h), gate, up, silu(gate) and their product (4 I); 2 bytes each (after Korthikanti et al.
    2022, adapted to SwiGLU and GQA). With activation checkpointing only each layer's input (h) is kept, plus one
    layer's full set while it is recomputed.
    """
    per_layer = 2 * (4 * shape.hidden + 2 * shape.q_dim + 2 * shape.kv_dim + 4 * shape.intermediate)
    if checkpointing:
        return shape.layers * 2 * shape.hidden + per_layer
    return shape.layers * per_layer


def training_memory(shape: ModelShape, world_size: int, strategy: Strategy, *, tokens: int, logit_tokens: int,
                    checkpointing: bool, trainable_params: int | None = None, reference_params: int = 0,
                    reference_bytes_per_param: int = 2, reserved_bytes: float = 0.0,
                    reserved_label: str = "vllm_reserved") -> MemoryEstimate:
    """Bytes per GPU of one training micro-step.

    ``tokens``: tokens through the model per micro-batch per GPU (DPO: 2 x batch x length, chosen + rejected);
    ``logit_tokens``: tokens whose full-vocab logits exist (GRPO keeps only the completion's);
    ``reference_params``: a frozen reference model (DPO without precomputed log-probs, GRPO with beta > 0) of
    ``reference_bytes_per_param`` (2 in bf16, 4 in fp32), sharded like the weights; ``reserved_bytes``: a fixed share taken by someone else (vLLM colocate).
    """
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    w_b, g_b, o_b = PRECISION_BYTES[strategy.precision]
    n, trainable = shape.params, shape.params if trainable_params is None else trainable_params
    split = lambda flag: world_size if flag else 1  # noqa: E731 - a one-line rule, named for the three uses below
    est = MemoryEstimate()
    est.terms["weights"] = w_b * n / split(strategy.shard_params)
    est.terms["gradients"] = g_b * trainable / split(strategy.shard_grads)
    est.terms["optimizer"] = 0.0 if strategy.offload_optimizer else o_b * trainable / split(strategy.shard_optimizer)
    est.terms["activations"] = tokens * activation_bytes_per_token(shape, checkpointing)
    est.terms["logits"] = logit_tokens * shape.vocab * LOGIT_BYTES
    if reference_params:
        est.terms["reference_model"] = reference_bytes_per_param * reference_params / split(strategy.shard_params)
    est.terms["overhead"] = OVERHEAD_FIXED + OVERHEAD_FRACTION * sum(est.terms.values())
    if reserved_bytes:
        est.terms[reserved_label] = reserved_bytes
    return est


def inference_memory(shape: ModelShape, *, sequences: int, seq_len: int, tensor_parallel: int = 1,
                     bytes_per_param: int = 2) -> MemoryEstimate:
    """Bytes per GPU to generate ``sequences`` at once up to ``seq_len`` tokens: bf16 weights + bf16 KV cache."""
    est = MemoryEstimate()
    est.terms["weights"] = bytes_per_param * shape.params / tensor_parallel
    est.terms["kv_cache"] = sequences * seq_len * kv_bytes_per_token(shape) / tensor_parallel
    est.terms["logits"] = sequences * shape.vocab * 4  # last-position fp32 logits of the batch
    est.terms["overhead"] = OVERHEAD_FIXED + OVERHEAD_FRACTION * sum(est.terms.values())
    return est


def kv_bytes_per_token(shape: ModelShape) -> int:
    """bf16 K and V of every layer for one token."""
    return 2 * 2 * shape.layers * shape.kv_dim


def vllm_kv_capacity_tokens(shape: ModelShape, gpu_bytes: float, utilization: float, tensor_parallel: int = 1) -> int:
    """Tokens of KV cache vLLM can hold after its weights, in its ``gpu_memory_utilization`` share (<= 0: no room)."""
    free = utilization * gpu_bytes - 2 * shape.params / tensor_parallel - OVERHEAD_FIXED
    return int(free * tensor_parallel // kv_bytes_per_token(shape))


def gpus_needed(estimate_for, gpu_bytes: float, counts=GPU_COUNTS) -> int | None:
    """Smallest GPU count in ``counts`` whose per-GPU estimate fits; ``estimate_for(g) -> MemoryEstimate``."""
    for g in counts:
        if estimate_for(g).total <= gpu_bytes:
            return g
    return None
