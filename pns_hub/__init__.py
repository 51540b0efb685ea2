"""pns-hub: teach LLMs math reasoning from negative samples (PNS, GLOW, NSR) on the Hugging Face stack.

Map: one home per concern. The data flows data -> verify -> rewards -> generator -> synthesis -> hub -> dpo ->
eval -> leaderboard; the rows below are in that order. Imports point up the table (a module uses its own row and the
rows above it), with one deliberate exception: the last three rows are drivers of each other (``dpo`` evaluates its
model with ``eval.run`` and writes a ``results`` record; ``eval.run`` writes records). ``tests/test_architecture.py``
checks that there is no import circle, that no row up to synthesis imports a row below it, and that no file here
exceeds 400 lines.

=====================  =============================================================================================
Row / module           Owns
=====================  =============================================================================================
**foundation**
models                 model specs, loading (embedded GGUF, Hub, folders), dtype/threads/bf16 detection
hardware               the one function that fits any TRL config to this machine (CPU: use_cpu, native-only bf16);
                       ``device_name`` (what ran a figure)
generation             prompt template, batched sampling (``SamplingParams``, ``generate``)
openvino_backend       OpenVINO GenAI sampling for fixed models: pinned exporter subprocess, IR cached by content
backends               which engine samples a fixed model (``PNS_HUB_GENERATE_BACKEND``), ``generate_from_folder``
lm_head                dense lm_head swap used inside trainers
hub                    Hub-layout folders, card rendering, ``push_folder`` and ``publish`` (all pushing lives here)
stats, eval.passk      intervals, paired bootstrap, pass@k
report                 plausibility statistics and plots of a negatives dataset
**data, verify**
verify_answers, verify math-verify grading (``VerifyResult``: correct / valid negative / unverifiable)
data, testbed          problem sets (bundled sources, JSONL), splits; the testbed problems
answer_format          what a well-formed completion is (``format_ok``), shared by rewards and synthesis
**rewards**
reward_model           ``RewardModelScorer`` + its squash + RM training (``train_reward_model``)
judge                  the CoT judge scorer
rewards                TRL reward functions, ``composite_score`` (the one PNS composite) and the registry
**generator**
pns_configs            script arguments and ``PNS*Config`` for reward model, generator (GRPO) and SFT recipes
grpo, sft              reverse-RL generator training; SFT warm-up
trainers/              GLOW and NSR/W-REINFORCE trainers and their configs (``trainer_configs``)
trajectories           sampled-and-verified trajectories dataset (GLOW/NSR input)
**synthesis**
synthesis_config       ``SynthesisConfig`` (content hash for resume)
synthesis_sampling     k samples per problem and model (transformers or vLLM), id-derived seeds
synthesis_select       RM/judge scoring, composite via ``rewards.composite_score``, which negatives become rows
synthesis_shard        one shard: sample, verify, filter, score, pair; the row schema (``features``)
shard_store            manifest, locks, atomic shard files, merge
dataset_card           the dataset folder: parquet per source, report, rejected inputs, card
fair_negatives         the fair protocol's selection: one rule, same problems/chosen/pairs for every source; the
                       plausibility table under both rules and the generator's before/after report
synthesize             input loading, orchestration across processes, push, CLI
**dpo**
dpo                    DPO on the preference pairs (TRL's ``DatasetMixtureConfig``/``get_dataset`` mix), card with scores
**eval**
eval/                  lighteval tasks and ``pns-hub eval``; ``reproduce`` re-runs published evaluations
**leaderboard**
results                the result-record schema (one JSON per evaluation run)
leaderboard            table, chart and paired differences of a results folder; ``leaderboard/`` is the Space app
space                  the Space folder (app + the results/leaderboard/stats modules it runs) and ``--push-space``
**tools**
cli, demo, stages      ``pns-hub`` entry point, the end-to-end demo (``demo_stages``: its stages), cached stages
experiments,           ``pns-hub experiment nsr|glow``; ``experiment pns`` is the demo chain at ``--budget full``,
experiment_pns         its table, plot and verdict
experiment_report      the experiments' fixed verdict rule, reports (pass@k curves, GLOW table), tables and plots
recipe_files,          ``check-recipe``: which task a YAML is, memory estimates, dry run
check_recipe, recipe_*
bench, protocol        benchmark helpers, the evaluation protocol
=====================  =============================================================================================
"""

__version__ = "0.1.0"
