"""The one place that fits a TRL/transformers training config to this machine's hardware.

Why one function: TRL's configs assume a GPU (``bf16=None`` means "bf16 if the device has it", activation
checkpointing is on by default). On a CPU-only machine a config needs ``use_cpu`` (transformers rejects bf16 on CPU
without it), bf16 only where the CPU runs it natively (AVX512-BF16 / AMX; elsewhere it is emulated and slower than
fp32), no fp16, and no activation checkpointing (it buys memory we do not lack with compute we do). Every recipe
config (``PNS*Config``, ``GlowConfig``, ``NSRConfig``) calls :func:`apply_hardware_defaults` before TRL's own
``__post_init__`` validates, and the train functions call it again on any plain TRL config a caller built, so one
YAML runs on a laptop CPU and on GPUs and ``bf16: null`` means the same everywhere.

With a GPU nothing is changed: the YAML's values stand, unless the run was launched for the CPU
(``accelerate launch`` with ``use_cpu: true``, as ``recipes/accelerate_configs/single_cpu.yaml`` has it).
"""

from __future__ import annotations

import logging
from pathlib import Path


logger = logging.getLogger(__name__)


def resolve_cpu_bf16(requested: bool | None, native: bool) -> bool:
    """bf16 on a CPU: ``None`` (TRL's "auto") and ``True`` both mean "where native"; ``False`` stays off.

    ``True`` on a CPU without native bf16 is turned down too, because emulated bf16 trains slower than fp32 and gives
    the same model; the card records the value actually used.
    """
    return requested is not False and native


def cpu_launch_requested(args) -> bool:
    """Whether this run trains on the CPU although a GPU may be present: the config says ``use_cpu`` or accelerate
    was launched with ``use_cpu: true`` (it exports ``ACCELERATE_USE_CPU``).

    Why it matters: transformers reads that variable for the device of its batches while the Trainer still placed
    the model on the GPU; on an H100 the recipe test launched with single_cpu.yaml failed with "index is on cpu,
    different from other tensors on cuda:0" (2026-12-06)."""
    from accelerate.utils import parse_flag_from_env

    return bool(getattr(args, "use_cpu", False)) or parse_flag_from_env("ACCELERATE_USE_CPU")


def apply_hardware_defaults(args) -> None:
    """Fit ``args`` (any ``transformers.TrainingArguments`` subclass, before or after ``__post_init__``) to this
    machine: on a CPU-only machine ``use_cpu``, bf16 only where native (:func:`resolve_cpu_bf16`), no fp16 and no
    activation checkpointing. Only safe before the config's device is first used."""
    import torch

    from pns_hub.models import cpu_supports_bf16

    if torch.cuda.is_available() and not cpu_launch_requested(args):
        return
    args.use_cpu = True
    args.bf16 = resolve_cpu_bf16(getattr(args, "bf16", None), cpu_supports_bf16())
    args.fp16 = False
    if getattr(args, "activation_checkpointing", None) or getattr(args, "gradient_checkpointing", None):
        logger.info("activation checkpointing disabled on CPU: it costs compute to save memory we do not need")
    # transformers 5 renamed gradient_checkpointing (a deprecated alias now mirrored from activation_checkpointing)
    if hasattr(args, "activation_checkpointing"):
        args.activation_checkpointing = False
    if hasattr(args, "gradient_checkpointing"):
        args.gradient_checkpointing = False


__all__ = ["apply_hardware_defaults", "cpu_launch_requested", "device_name", "resolve_cpu_bf16"]


def device_name() -> str:
    """What ran it, for every figure: the GPU's name, else the CPU's model name from /proc/cpuinfo."""
    import platform

    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
