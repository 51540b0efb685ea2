"""pns-hub: teach LLMs math reasoning from negative samples (PNS, GLOW, NSR) on the Hugging Face stack.

Map: one package per stage, in the order the data flows. A package imports its own layer and the layers above it,
never one below (``tests/test_architecture.py`` checks it, with no import circle and no file over 400 lines). The one
exception: ``data.problems`` reads a Minerva gold with the grader's ``extract_boxed``, so "the boxed answer" is one
rule for golds and completions.

==================  ==============================================================================================
Package / module    Owns
==================  ==============================================================================================
models, hardware    cross-cutting: model specs and loading (embedded dequantised Q4_1 GGUF, Hub, folders); fitting
memory, hub, stats  TRL configs to this machine; RSS and model slots; Hub folders, cards, push; intervals, bootstrap
data/               problems: the seven bundled benchmarks, GSM8K train, JSONL input, splits, the procedural testbed
engines/            sampling: prompt template and decode loop, OpenVINO GenAI, engine choice, the dense LM head
grading/            one verdict per completion (math-verify), what a well-formed answer is, the step checker
                    (plausibility of `a op b = c` chains without a model), ``pns-hub verify``
eval/               lighteval tasks, ``pns-hub eval``, pass@k, result records, reproduce, leaderboard and Space
rewards/            reward model (scorer, training), CoT judge, TRL reward functions and the PNS composite
trainers/           GRPO generator (reverse RL), SFT warm-up, DPO, GLOW, PSR/NSR/W-REINFORCE, their configs
synthesis/          the negatives dataset: sampling, selection, shards, store, card, baselines, fair protocol, report
experiments/        ``pns-hub demo`` and its cached stages, ``experiment pns|nsr|glow``, verdicts, benchmark runner
check_recipe/       ``pns-hub check-recipe``: which task a YAML is, memory and time estimates, a CPU dry run
cli                 the ``pns-hub`` entry point (subcommands imported on use)
==================  ==============================================================================================
"""

__version__ = "0.1.0"
