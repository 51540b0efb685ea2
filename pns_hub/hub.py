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
import re
from importlib import resources
from pathlib import Path
from typing import Mapping


logger = logging.getLogger(__name__)


HUB_ID = re.compile(r"^[\w.-]{1,96}(/[\w.-]{1,96})?$")


def check_local_model(spec: str) -> None:
    """"no such model folder" for a path that is not there (it starts with ``/ . ~`` or cannot be a Hub id); else
    the Hub client's ``HFValidationError: Repo id must be in the form 'repo_name'`` is all a user would see."""
    if not Path(spec).expanduser().exists() and (spec.startswith(("/", ".", "~")) or not HUB_ID.match(spec)):
        raise FileNotFoundError(f"{spec}: no such model folder (a Hub model is named org/name)")


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


def card_data_class(repo_type: str = "model"):
    """huggingface_hub's card data class for a repo type (what the Hub client itself reads card headers with)."""
    from huggingface_hub import DatasetCardData, ModelCardData, SpaceCardData

    classes = {"model": ModelCardData, "dataset": DatasetCardData, "space": SpaceCardData}
    if repo_type not in classes:
        raise ValueError(f"repo_type must be one of {sorted(classes)}, got {repo_type!r}")
    return classes[repo_type]


def yaml_header(metadata: Mapping, repo_type: str = "model") -> str:
    """A card's YAML front matter (``---`` block) from a mapping, written by huggingface_hub's card data class for
    the repo type (``ModelCardData``/``DatasetCardData``/``SpaceCardData``: ``None`` values dropped, key order kept)."""
    return "---\n" + card_data_class(repo_type)(**dict(metadata)).to_yaml() + "\n---\n"


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


def dataset_metadata(configs: Mapping[str, object], default: str | None = None, card_data=None):
    """The ``configs:`` and ``dataset_info:`` YAML that make ``load_dataset(repo, config)`` resolve the files,
    written into ``card_data`` (a new ``huggingface_hub.DatasetCardData`` if none) and returned.

    Written the way ``Dataset.push_to_hub`` writes them: ``datasets``' ``MetadataConfigs`` and ``DatasetInfosDict``
    put themselves into the card data (``to_dataset_card_data``), so the YAML is the libraries' own, not ours.
    Entries already in ``card_data`` under those two keys are replaced, not merged (the folder holds only ``configs``).
    """
    from datasets import DatasetInfo
    from datasets.info import DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    card_data = DatasetCardData() if card_data is None else card_data
    entries, infos = {}, {}
    for name, dataset in configs.items():
        splits = _as_dict(dataset)
        entries[name] = {"data_files": [{"split": s, "path": f"data/{name}/{s}-*"} for s in splits],
                         **({"default": True} if name == default else {})}
        # num_bytes is required by datasets' YAML validation (without it every load warns "malformed").
        infos[name] = DatasetInfo(features=next(iter(splits.values())).features, splits=SplitDict(
            {s: SplitInfo(name=s, num_bytes=int(d.data.nbytes), num_examples=len(d)) for s, d in splits.items()}))
    for key in ("configs", "dataset_info"):
        card_data.pop(key, None)
    MetadataConfigs(entries).to_dataset_card_data(card_data)
    DatasetInfosDict(infos).to_dataset_card_data(card_data)
    return card_data


def write_dataset_folder(folder: str | os.PathLike, configs: Mapping[str, object], card_text: str,
                         default: str | None = None) -> Path:
    """Write every config as ``data/<config>/<split>-00000-of-00001.parquet`` and the card as README.md.

    ``card_text`` is the markdown body; if it has no YAML header, the ``configs``/``dataset_info`` header is added,
    and if it has one, those keys are set in it (so a template may carry licence, tags, pretty_name ...). The card is
    a ``huggingface_hub.DatasetCard``: its parser reads the template's header, its data class writes the new one.
    """
    from huggingface_hub import DatasetCard

    folder = Path(folder)
    for name, dataset in configs.items():
        for split, data in _as_dict(dataset).items():
            target = folder / "data" / name / f"{split}-00000-of-00001.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            for stale in target.parent.glob(f"{split}-*.parquet"):
                stale.unlink()
            data.to_parquet(str(target))
    card = DatasetCard(card_text)
    dataset_metadata(configs, default=default, card_data=card.data)
    text = str(card)
    (folder / "README.md").write_text(text, encoding="utf-8")
    validate_dataset_card(text, folder)
    return folder


_STRING_LIST_KEYS = ("license", "language", "task_categories", "task_ids", "tags", "source_datasets", "size_categories",
                     "annotations_creators", "language_creators", "multilinguality")


def dataset_card_problems(card_text: str, folder: str | os.PathLike | None = None) -> list[str]:
    """Everything wrong with a dataset card's YAML, found offline with the libraries' own parsers.

    Why these parsers: ``DatasetCard`` (huggingface_hub) is what reads the header for the Hub client, and
    ``MetadataConfigs`` / ``DatasetInfosDict`` (datasets) are what ``load_dataset`` uses to resolve ``configs:`` and
    ``dataset_info:``; a card they reject loads wrongly for every user. With ``folder``, every ``data_files``
    pattern must also match a file in it (a pattern matching nothing is a config that cannot load).
    """
    from datasets.data_files import resolve_pattern, sanitize_patterns
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    try:
        data = DatasetCard(card_text).data
    except Exception as err:  # yaml.YAMLError, or a header that is not a mapping
        return [f"YAML header: {err}"]
    problems = []
    for key in _STRING_LIST_KEYS:
        value = data.get(key)
        if value is not None and not (isinstance(value, str) or (
                isinstance(value, list) and value and all(isinstance(v, str) for v in value))):
            problems.append(f"{key}: expected a string or a non-empty list of strings, got {value!r}")
    if data.get("pretty_name") is not None and not isinstance(data.get("pretty_name"), str):
        problems.append(f"pretty_name: expected a string, got {data.get('pretty_name')!r}")
    configs = MetadataConfigs()
    try:
        entries = data.get("configs")
        if isinstance(entries, list) and not all(isinstance(c, dict) for c in entries):
            raise ValueError(f"every entry must be a mapping, got {entries!r}")
        configs = MetadataConfigs.from_dataset_card_data(data)
        configs.get_default_config_name()
    except (ValueError, TypeError) as err:
        problems.append(f"configs: {' '.join(str(err).split())[:300]}")
    try:
        infos = DatasetInfosDict.from_dataset_card_data(data)
    except Exception as err:
        problems.append(f"dataset_info: {err}")
    else:
        problems += [f"dataset_info: config '{name}' is not in configs" for name in infos
                     if configs and name not in configs]
    for name, config in configs.items() if folder is not None else ():
        for split, patterns in sanitize_patterns(config.get("data_files") or []).items():
            for pattern in patterns:
                try:
                    resolve_pattern(pattern, base_path=str(folder))
                except FileNotFoundError:
                    problems.append(f"configs: config '{name}' split '{split}': no file matches {pattern!r} "
                                    f"in {folder}")
    return problems


def validate_dataset_card(card_text: str, folder: str | os.PathLike | None = None) -> None:
    """Raise ``ValueError`` listing :func:`dataset_card_problems` (a card the Hub or ``load_dataset`` would reject)."""
    problems = dataset_card_problems(card_text, folder)
    if problems:
        raise ValueError("invalid dataset card" + (f" in {folder}" if folder else "") + ":\n- " + "\n- ".join(problems))


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
class PushError(RuntimeError):
    """A push that could not reach the Hub; the message says what was kept where (``pns-hub`` prints it as is)."""


def _network_errors() -> tuple[type[BaseException], ...]:
    """What a client raises when the Hub cannot be reached (huggingface_hub 1.x speaks httpx; older ones requests)."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    try:
        import httpx

        errors.append(httpx.TransportError)
    except ImportError:
        pass
    try:
        import requests

        errors.append(requests.ConnectionError)
    except ImportError:
        pass
    return tuple(errors)


def push_folder(folder: str | os.PathLike, repo_id: str, repo_type: str = "model", token: str | None = None,
                endpoint: str | None = None, private: bool | None = None, commit_message: str | None = None,
                ignore_patterns: list[str] | None = None, api=None, space_variables: list[dict] | None = None) -> str:
    """Create the repo if needed and upload the folder in one commit; returns the commit URL.

    ``api`` (an ``HfApi``) or ``endpoint`` can point at a test server; nothing else differs from a real push.
    A Space is created with the gradio SDK and ``space_variables`` (``[{"key", "value"}]``, its environment).
    """
    from huggingface_hub import HfApi

    if not Path(folder).is_dir():
        raise FileNotFoundError(f"{folder}: nothing to push")
    api = api or HfApi(endpoint=endpoint, token=token)
    try:
        space = {"space_sdk": "gradio", "space_variables": space_variables} if repo_type == "space" else {}
        api.create_repo(repo_id=repo_id, repo_type=repo_type, private=private, exist_ok=True, **space)
        info = api.upload_folder(
            repo_id=repo_id, repo_type=repo_type, folder_path=str(folder),
            commit_message=commit_message or f"Upload {repo_type} with pns-hub",
            ignore_patterns=ignore_patterns or ["checkpoint-*", "*.pth", "*.pt", ".cache/*", "runs/*"],
        )
    except _network_errors() as err:
        raise PushError(f"could not reach the Hub to push {repo_id} ({type(err).__name__}: {str(err)[:120]}); "
                        f"nothing is lost: the {repo_type} is kept in {folder}, push it later with "
                        f"`hf upload {repo_id} {folder} --repo-type {repo_type}`") from err
    url = getattr(info, "commit_url", str(info))
    logger.info("pushed %s to %s (%s)", folder, repo_id, url)
    return url


# Files a training output folder holds that never go to the Hub (*.bin: training_args.bin is a pickle).
PUSH_IGNORE = ["checkpoint-*", "*.pt", "*.pth", "*.bin", "runs/*", ".cache/*"]


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in ("1", "true", "yes")


def publish(folder: str, repo_id: str | None, push: bool, repo_type: str = "model", token: str | None = None,
            commit_message: str = "Upload PNS model with pns-hub") -> str | None:
    """Push the already-written repo folder if asked; offline, say where the folder is instead of failing.

    The one publishing convention of every training recipe (``--push_to_hub --hub_model_id``): the recipe turns the
    Trainer's own ``push_to_hub`` off (it would push checkpoints before the card exists), writes the folder with its
    final card, and calls this once, from the main process.
    """
    if not push:
        return None
    if not repo_id:
        raise ValueError("--push_to_hub needs --hub_model_id (the Hub repo to create/update)")
    if hub_offline():
        logger.warning("HF_HUB_OFFLINE is set: not pushing %s; the repo folder is ready at %s", repo_id, folder)
        return None
    return push_folder(folder, repo_id, repo_type=repo_type, token=token, ignore_patterns=PUSH_IGNORE,
                       commit_message=commit_message)
