"""``pns-hub check-recipe RECIPE.yaml [--dry-run]``: validate a paper-scale recipe on a machine without its GPUs.

What it does, and why each step:
1. **Which script.** The task is the recipe's folder (open-r1 layout ``recipes/<Model>/<task>/config_<variant>.yaml``)
   or, for the flat demo recipes, the file name (``recipes/smollm2-135m-instruct/dpo.yaml``).
2. **Parse with that script's own parser** (the same ``TrlParser`` dataclasses ``recipes/<task>.py`` uses), so a typo
   or a value TRL rejects fails here, not on a booked node.
3. **Launch.** The header's ``accelerate launch --config_file ...`` line names the accelerate config; its
   ``num_processes`` and DeepSpeed/FSDP settings give the world size and the sharding.
4. **The model on the meta device** from its ``config.json`` (``tests/fixtures/model_configs/<Model>.json``, written
   from the public model cards): real parameter counts, no weights, no download.
5. **Memory per GPU** (:mod:`pns_hub.check_recipe.memory`) at the configured batch/length and sharding, and the fewest GPUs
   that hold it. Hardware-dependent settings (bf16, gradient checkpointing) are read from the YAML as written,
   because the parsed config has already been adapted to this CPU.
6. ``--dry-run``: one real step of the recipe's own entry point on CPU with a 2-layer random-init model of the same
   family (:mod:`pns_hub.check_recipe.dry_run`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pns_hub.check_recipe import memory as mem
from pns_hub.check_recipe.files import (  # noqa: F401  (public names of check-recipe; tests use them from here)
    ASSUMED_PROMPT_TOKENS, FIXTURE_DIR, INFERENCE_TASKS, REPO_ROOT, TASKS, TRAINING_TASKS, count_parameters,
    find_model_config, identify, load_model_config, meta_model, parser_types,
)


DEFAULT_GPU_GIB = 79.0  # what an 80 GB H100/A100 shows to torch (about 79.6 GiB), rounded down


@dataclass
class Launch:
    """How the recipe is launched: accelerate config, world size and sharding strategy."""

    config_file: str | None
    world_size: int
    num_machines: int
    strategy: mem.Strategy


@dataclass
class Recipe:
    path: Path
    task: str
    model_key: str
    raw: dict
    header: str
    launch: Launch
    parsed: tuple = ()
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------------------
# Reading the recipe
# ---------------------------------------------------------------------------------------------------------------
def _header(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))


def load_accelerate_config(path: Path) -> tuple[int, int, mem.Strategy]:
    """(num_processes, num_machines, strategy) of an accelerate YAML (``num_processes`` counts all machines)."""
    cfg = yaml.safe_load(path.read_text())
    kind = str(cfg.get("distributed_type", "NO")).upper()
    procs, machines = int(cfg.get("num_processes", 1)), int(cfg.get("num_machines", 1))
    if kind == "DEEPSPEED":
        ds = cfg.get("deepspeed_config") or {}
        stage = int(ds.get("zero_stage", 0))
        base = mem.STRATEGIES[f"zero{stage}"] if stage else mem.STRATEGIES["ddp"]
        offload = str(ds.get("offload_optimizer_device", "none")).lower() not in ("none", "")
        return procs, machines, mem.Strategy(base.name + ("+offload" if offload else ""), base.shard_params,
                                             base.shard_grads, base.shard_optimizer, offload, base.precision)
    if kind == "FSDP":
        fsdp = cfg.get("fsdp_config") or {}
        full = fsdp.get("fsdp_reshard_after_forward", True) not in (False, "SHARD_GRAD_OP") and \
            fsdp.get("fsdp_sharding_strategy", "FULL_SHARD") != "SHARD_GRAD_OP"
        return procs, machines, mem.STRATEGIES["fsdp_full_shard" if full else "fsdp_shard_grad_op"]
    if kind in ("MULTI_GPU", "MULTI_CPU"):
        return procs, machines, mem.STRATEGIES["ddp"]
    return 1, 1, mem.STRATEGIES["single"]


def parse_launch(header: str, path: Path) -> Launch:
    """The header's launch line: ``--config_file`` (relative to the checkout) and optional ``--num_processes``."""
    config = re.search(r"--config_file\s+(\S+)", header)
    procs = re.search(r"--num_processes\s+(\d+)", header) or re.search(r"WORLD_SIZE=(\d+)", header)
    machines = re.search(r"--num_machines\s+(\d+)", header)
    if config:
        file = (REPO_ROOT / config.group(1)) if not Path(config.group(1)).is_absolute() else Path(config.group(1))
        if not file.exists():
            raise ValueError(f"{path}: header names accelerate config {config.group(1)}, which does not exist")
        world, nodes, strategy = load_accelerate_config(file)
    else:
        world, nodes, strategy = 1, 1, mem.STRATEGIES["single"]
    world = int(procs.group(1)) if procs else world
    nodes = int(machines.group(1)) if machines else nodes
    if world > 1 and strategy.name == "single":
        strategy = mem.STRATEGIES["ddp"]
    return Launch(config.group(1) if config else None, world, nodes, strategy)


def eval_argv(raw: dict) -> list[str]:
    """``pns-hub eval`` arguments from an evaluate recipe: ``model`` positional, every other key ``--key-name``."""
    if "model" not in raw:
        raise ValueError("evaluate recipe needs a 'model' key")
    argv = [str(raw["model"])]
    for key, value in raw.items():
        if key == "model" or value is None:
            continue
        argv.append("--" + key.replace("_", "-"))
        argv += [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return argv


def parse_with_script(path: Path, task: str, raw: dict) -> tuple:
    """Parse the YAML exactly as its script does; returns the dataclass instances (or the eval Namespace)."""
    if task == "evaluate":
        from pns_hub.eval.run import build_parser

        return (build_parser().parse_args(eval_argv(raw)),)
    types, recipe_args = parser_types(task)
    argv = ["--config", str(path)]
    if recipe_args:
        from pns_hub.trainers.configs import parse_recipe_args

        return tuple(parse_recipe_args(types, argv))
    from trl import TrlParser

    return tuple(TrlParser(types).parse_args_and_config(args=argv))


def load_recipe(path: str | Path) -> Recipe:
    path = Path(path).resolve()
    text = path.read_text()
    raw = yaml.safe_load(text) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a recipe is a YAML mapping, got {type(raw).__name__}")
    task, model_key = identify(path)
    header = _header(text)
    recipe = Recipe(path, task, model_key, raw, header, parse_launch(header, path))
    recipe.parsed = parse_with_script(path, task, raw)
    return recipe


# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------
def check(path: str | Path, gpu_gib: float = DEFAULT_GPU_GIB, fixture_dir: Path = FIXTURE_DIR) -> dict:
    """Everything ``check-recipe`` prints, as a dict (tests read it)."""
    from pns_hub.check_recipe import estimates as recipe_estimates
    recipe = load_recipe(path)
    config = load_model_config(find_model_config(recipe.model_key, fixture_dir))
    model = meta_model(config, sequence_classification=recipe.task == "reward_model")
    params = count_parameters(model)
    shape = mem.ModelShape.from_config(config, params)
    report = {"recipe": str(recipe.path.relative_to(REPO_ROOT)) if recipe.path.is_relative_to(REPO_ROOT)
              else str(recipe.path), "task": recipe.task, "model": recipe.model_key,
              "architecture": type(model).__name__, "parameters": params,
              "accelerate_config": recipe.launch.config_file, "strategy": recipe.launch.strategy.name,
              "world_size": recipe.launch.world_size, "num_machines": recipe.launch.num_machines,
              "gpu_gib": gpu_gib}
    report.update(recipe_estimates.estimate(recipe, shape, gpu_gib * mem.GIB))
    report["notes"] = recipe.notes + report.get("notes", [])
    if recipe.task == "evaluate":
        report["command"] = " ".join(["pns-hub", "eval", *eval_argv(recipe.raw)])
    return report


def format_report(r: dict) -> str:
    script = "pns-hub eval" if r["task"] == "evaluate" else f"recipes/{r['task']}.py"
    lines = [f"recipe     {r['recipe']}", f"task       {r['task']}  ({script} parser: ok)",
             f"model      {r['model']}: {r['architecture']}, {r['parameters'] / 1e9:.3f} B parameters (meta device)",
             f"launch     {r['accelerate_config'] or 'no accelerate config'}: {r['world_size']} process(es) on "
             f"{r['num_machines']} node(s), {r['strategy'] if r['task'] in TRAINING_TASKS else 'data parallel'}",
             f"memory     per GPU at the configured batch/length (GiB, estimate, {r['gpu_gib']:.0f} GiB GPUs):"]
    width = max(len(k) for k in r["memory_gib"]) + 2
    lines += [f"  {k:<{width}}{v:>8.2f}" for k, v in r["memory_gib"].items()]
    fits = "fits" if r["fits"] else "DOES NOT FIT"
    needed = r["gpus_needed"]
    lines.append(f"verdict    {fits} on {r['gpus_configured']} GPU(s) as configured; fewest GPUs that hold it: "
                 f"{needed if needed else 'none up to 64 with this strategy'}")
    lines += [f"note       {n}" for n in r["notes"]]
    if r.get("command"):
        lines.append(f"command    {r['command']}")
    return "\n".join(lines)


def cli_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pns-hub check-recipe", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("recipes", nargs="+", help="recipe YAML file(s)")
    parser.add_argument("--gpu-memory-gib", type=float, default=DEFAULT_GPU_GIB, help="memory of one GPU")
    parser.add_argument("--model-configs", default=str(FIXTURE_DIR), help="folder of <Model>.json configs")
    parser.add_argument("--dry-run", action="store_true", help="also run one real step on CPU with a tiny model")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    status = 0
    for path in args.recipes:
        try:
            report = check(path, args.gpu_memory_gib, Path(args.model_configs))
        except (ValueError, FileNotFoundError) as err:
            print(f"error: {path}: {err}", file=sys.stderr)
            return 2
        print(json.dumps(report, indent=2) if args.json else format_report(report))
        status = status or (0 if report["fits"] else 1)
        if args.dry_run:
            from pns_hub.check_recipe.dry_run import dry_run

            result = dry_run(path, Path(args.model_configs))
            print(f"dry run    {result['status']} in {result['seconds']:.1f} s: {result['summary']}")
    return status


if __name__ == "__main__":
    sys.exit(cli_main())
