"""Hub artifacts as local folders in Hub layout, pushed in one commit when asked.

Every artifact (dataset, model, results, Space) is first written to a local folder laid out exactly as its Hub repo
(``data/<config>/<split>-00000-of-00001.parquet`` + a README card with YAML ``configs:``). That one folder is what
``load_dataset(folder, config)`` / ``from_pretrained(folder)`` read offline and what :func:`push_folder` uploads, so
the offline path and the Hub path are the same code. We do not use ``Dataset.push_to_hub`` for this reason (and it
cannot be exercised without the Hub's servers).
"""

from __future__ import annotations

import json
import logging
import os
from importlib import resources
from pathlib import Path
from typing import Mapping


logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------------------
# Cards
# --------------------------------------------------------------------------------------------------------------
def template_dir() -> Path:
    """``model_cards/`` of a checkout, else the copy shipped in the package."""
    checkout = Path(__file__).resolve().parent.parent / "model_cards"
    if checkout.is_dir():
        return checkout
    return Path(str(resources.files("pns_hub") / "resources" / "model_cards"))


def render_card(template_name: str, **context) -> str:
    """Render ``model_cards/<template_name>`` with Jinja2 (undefined variables are errors, not blank text)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["tojson"] = lambda value: json.dumps(value, default=str)
    return env.get_template(template_name).render(**context)


def yaml_header(metadata: Mapping) -> str:
    """A card's YAML front matter (``---`` block) from a mapping."""
    import yaml

    return "---\n" + yaml.safe_dump(dict(metadata), sort_keys=False, allow_unicode=True) + "---\n"


# --------------------------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------------------------
def _as_dict(dataset) -> dict:
    from datasets import Dataset, DatasetDict

    if isinstance(dataset, Dataset):
        return {"train": dataset}
    if isinstance(dataset, (DatasetDict, dict)):
        return dict(dataset)
    raise TypeError(f"expected a Dataset or DatasetDict, got {type(dataset).__name__}")


def dataset_metadata(configs: Mapping[str, object], default: str | None = None) -> dict:
    """The ``configs:`` and ``dataset_info:`` YAML that make ``load_dataset(repo, config)`` resolve the files."""
    entries, infos = [], []
    for name, dataset in configs.items():
        splits = _as_dict(dataset)
        entry = {"config_name": name, "data_files": [{"split": s, "path": f"data/{name}/{s}-*"} for s in splits]}
        if name == default:
            entry["default"] = True
        entries.append(entry)
        first = next(iter(splits.values()))
        infos.append({
            "config_name": name,
            "features": first.features._to_yaml_list() if hasattr(first.features, "_to_yaml_list") else None,
            # num_bytes is required by datasets' YAML validation (without it every load warns "malformed").
            "splits": [{"name": s, "num_bytes": int(d.data.nbytes), "num_examples": len(d)} for s, d in splits.items()],
        })
    return {"configs": entries, "dataset_info": infos}


def write_dataset_folder(folder: str | os.PathLike, configs: Mapping[str, object], card_text: str,
                         default: str | None = None) -> Path:
    """Write every config as ``data/<config>/<split>-00000-of-00001.parquet`` and the card as README.md.

    ``card_text`` is the markdown body; if it has no YAML header, the ``configs``/``dataset_info`` header is added,
    and if it has one, those keys are merged into it (so a template may carry licence, tags, pretty_name ...).
    """
    import yaml

    folder = Path(folder)
    for name, dataset in configs.items():
        for split, data in _as_dict(dataset).items():
            target = folder / "data" / name / f"{split}-00000-of-00001.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            for stale in target.parent.glob(f"{split}-*.parquet"):
                stale.unlink()
            data.to_parquet(str(target))
    meta = dataset_metadata(configs, default=default)
    body = card_text
    if card_text.startswith("---\n"):
        end = card_text.index("\n---", 4)
        header = yaml.safe_load(card_text[4:end]) or {}
        body = card_text[end + 4:].lstrip("\n")
        header.update(meta)
        meta = header
    (folder / "README.md").write_text(yaml_header(meta) + "\n" + body, encoding="utf-8")
    return folder


# --------------------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------------------
def save_model_folder(trainer_or_model, tokenizer, folder: str | os.PathLike, card_text: str | None = None) -> Path:
    """Save safetensors weights, tokenizer and README card: a folder ``from_pretrained`` and the Hub both accept."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if hasattr(trainer_or_model, "save_model"):
        trainer_or_model.save_model(str(folder))
    else:
        trainer_or_model.save_pretrained(str(folder), safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(str(folder))
    if card_text is not None:
        (folder / "README.md").write_text(card_text, encoding="utf-8")
    return folder


# --------------------------------------------------------------------------------------------------------------
# Push
# --------------------------------------------------------------------------------------------------------------
def push_folder(folder: str | os.PathLike, repo_id: str, repo_type: str = "model", token: str | None = None,
                endpoint: str | None = None, private: bool | None = None, commit_message: str | None = None,
                ignore_patterns: list[str] | None = None, api=None) -> str:
    """Create the repo if needed and upload the folder in one commit; returns the commit URL.

    ``api`` (an ``HfApi``) or ``endpoint`` can point at a test server; nothing else differs from a real push.
    """
    from huggingface_hub import HfApi

    if not Path(folder).is_dir():
        raise FileNotFoundError(f"{folder}: nothing to push")
    api = api or HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id=repo_id, repo_type=repo_type, private=private, exist_ok=True,
                    **({"space_sdk": "gradio"} if repo_type == "space" else {}))
    info = api.upload_folder(
        repo_id=repo_id, repo_type=repo_type, folder_path=str(folder),
        commit_message=commit_message or f"Upload {repo_type} with pns-hub",
        ignore_patterns=ignore_patterns or ["checkpoint-*", "*.pth", "*.pt", ".cache/*", "runs/*"],
    )
    url = getattr(info, "commit_url", str(info))
    logger.info("pushed %s to %s (%s)", folder, repo_id, url)
    return url
