"""Synthesis of the negatives dataset: config (content hash for resume), k samples per problem (``sampling``),
scoring and selection (``selection``), one shard (``shard``), the shard store, the dataset folder and card (``card``),
baseline sources (``baselines``), the fair protocol's selection (``fair``), plausibility reports (``report``),
trajectories for GLOW/NSR (``trajectories``) and the orchestrating entry point (``run``)."""
