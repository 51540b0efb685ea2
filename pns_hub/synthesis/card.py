"""Synthesis's output folder: per-source parquet in Hub layout, plausibility report, rejected inputs and the card.

The card is rendered from ``model_cards/dataset.md`` and names every model by its Hub id (never a local path), the
source licence, the sampling settings and what was skipped and why, so the dataset can be used without this repo.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pns_hub import models

from pns_hub.synthesis import baselines as negatives
from pns_hub.synthesis.shard import features, model_id


logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from pns_hub.synthesis.config import SynthesisConfig


REJECTED_FILE = "rejected_problems.jsonl"


def source_license(dataset: str) -> str:
    from pns_hub.data import problems as data
    spec = data.ALL_SETS.get(dataset)
    return spec.license if spec else "unknown (user-supplied problems)"


def _card(config: SynthesisConfig, datasets_by_source: dict, report_md: str, skipped: list[dict],
          rejected_inputs: list[dict], n_problems: int) -> str:
    from collections import Counter

    from pns_hub.data import problems as data

    from pns_hub import hub
    spec = data.ALL_SETS.get(config.dataset)
    skip_counts = Counter((s["source"], s["reason"]) for s in skipped)
    return hub.render_card(
        "dataset.md",
        pretty_name=config.pretty_name,
        license=_hub_license(source_license(config.dataset)),
        source_license=source_license(config.dataset),
        source_dataset=config.dataset,
        source_hub_id=spec.hub_id if spec else None,
        num_problems=n_problems,
        configs=[{"name": s, "rows": len(d), "description": negatives.SOURCE_DESCRIPTIONS[s]}
                 for s, d in datasets_by_source.items()],
        generator=model_id(config.generator), generator_revision=config.generator_revision,
        policy=model_id(config.policy), instruct_model=model_id(config.instruct_model),
        reward_model=config.reward_model and model_id(config.reward_model),
        judge_model=config.judge_model and model_id(config.judge_model),
        build_notes=sorted({f"{role}: {note}" for role, (spec, _) in config._models_used().items()
                            if (note := models.build_note(spec))}),
        rejected_choice=config.rejected_choice, plausibility=config.plausibility,
        sampling=json.dumps(config.sampling().to_dict() | {"seed_scope": config.seed_scope}, sort_keys=True),
        repo_id=config.hub_repo_id or "<org>/<name>",
        skipped=[{"source": s, "reason": r, "count": c} for (s, r), c in sorted(skip_counts.items())],
        rejected_inputs=len(rejected_inputs),
        report_table=report_md,
        version=__import__("pns_hub").__version__,
    )


def _hub_license(text: str) -> str:
    """The Hub's licence identifier for the card's YAML; free text stays in the body."""
    known = {"MIT": "mit", "Apache-2.0": "apache-2.0", "CC BY-NC-SA 4.0": "cc-by-nc-sa-4.0"}
    return known.get(text, "other")


def write_folder(config: SynthesisConfig, rows: dict[str, list[dict]], skipped: list[dict],
                 rejected_inputs: list[dict], n_problems: int) -> Path:
    """Datasets per source -> parquet in Hub layout, plausibility report (PNG + table), card, rejected rows."""
    from datasets import Dataset

    from pns_hub import hub

    from pns_hub.synthesis import report
    folder = Path(config.output_dir)
    feats = features()
    configs = {s: Dataset.from_list(rows[s], features=feats) if rows[s] else Dataset.from_dict(
        {k: [] for k in feats}, features=feats) for s in config.sources}
    stats = report.plausibility_stats({s: rows[s] for s in config.sources})
    report.plot(stats, {s: rows[s] for s in config.sources}, folder / "plausibility.png")
    table = report.markdown_table(stats)
    (folder / "plausibility.json").write_text(json.dumps(stats, indent=1))
    with open(folder / REJECTED_FILE, "w", encoding="utf-8") as handle:
        for item in rejected_inputs:
            handle.write(json.dumps(item, default=str) + "\n")
    card = _card(config, configs, table, skipped, rejected_inputs, n_problems)
    # A 0-row config cannot be loaded at all (datasets: "Instruction 'train' corresponds to no data"), so an empty
    # source is left out of the folder's configs; the card still lists it with 0 rows and the skip reasons.
    written = {s: d for s, d in configs.items() if len(d)}
    if not written:  # e.g. a one-step dry run on a tiny model: the card and skip table are still the record of it
        logger.error("%s: no source produced a single pair (%s); the card lists why", folder, ", ".join(configs))
    for source in set(configs) - set(written):
        logger.warning("config %r has no rows: left out of %s/README.md's configs (see the card's skip table)",
                       source, folder)
        for stale in (folder / "data" / source).glob("*.parquet"):  # from an earlier run into the same folder
            stale.unlink()
    default = negatives.PNS if negatives.PNS in written else next(iter(written), None)
    hub.write_dataset_folder(folder, written, card, default=default)
    return folder
