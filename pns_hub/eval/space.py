"""The leaderboard as a Hub Space: build the folder a Space runs, and push it (``pns-hub leaderboard --push-space``).

Why the Space folder is *built* rather than being ``leaderboard/`` as is: pns-hub is not on the package index, so a
Space cannot ``pip install`` it, and the app reads results with pns_hub's own record code. :func:`build_space_folder`
copies ``leaderboard/`` (app, requirements, README) and puts the few modules the app imports (:data:`SPACE_MODULES`:
the results schema, the table, the intervals) next to it as a small ``pns_hub`` package. Those are the very files of
this checkout, copied by code at push time, so the Space cannot drift from the schema the CLI writes; a test builds
a clean venv from ``requirements.txt`` alone and starts ``python app.py`` in that folder, as the Space does.

Where the Space reads results: the Hub dataset repo named by ``PNS_RESULTS_REPO`` (``snapshot_download``; the push
sets it as a Space variable), else the folder ``PNS_LEADERBOARD_RESULTS``, else the bundled ``results/``.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path


logger = logging.getLogger(__name__)

PACKAGE = Path(__file__).resolve().parents[1]
SPACE_SOURCE = PACKAGE.parent / "leaderboard"
# What leaderboard/app.py imports from pns_hub, and what those import (the test's clean venv proves it is closed).
SPACE_MODULES = ("eval/results.py", "eval/leaderboard.py", "stats.py")
RESULTS_REPO_VARIABLE = "PNS_RESULTS_REPO"
SPACE_PACKAGE_INIT = '"""The part of pns-hub the leaderboard Space runs (copied by pns-hub leaderboard --push-space)."""\n'


def pinned_version(requirements: Path, package: str) -> str | None:
    """``X`` of a ``package==X`` line in a requirements file (the Space README's sdk_version must match it)."""
    for line in requirements.read_text().splitlines():
        name, _, version = line.split("#")[0].strip().partition("==")
        if name.strip().lower().replace("_", "-") == package and version:
            return version.strip()
    return None


def space_card(source: Path) -> str:
    """The Space README: ``leaderboard/README.md`` read and rewritten by ``huggingface_hub.SpaceCard``, its
    ``sdk_version`` set to the gradio the requirements pin (a Space installs the SDK from this field)."""
    from huggingface_hub import SpaceCard

    card = SpaceCard.load(source / "README.md")
    if card.data.sdk != "gradio" or card.data.app_file != "app.py":
        raise ValueError(f"{source / 'README.md'}: the Space card must say sdk: gradio and app_file: app.py, "
                         f"got sdk={card.data.sdk!r} app_file={card.data.app_file!r}")
    gradio = pinned_version(source / "requirements.txt", "gradio")
    if gradio is None:
        raise ValueError(f"{source / 'requirements.txt'}: pin gradio==X (the card's sdk_version is taken from it)")
    card.data.sdk_version = gradio
    return str(card)


def build_space_folder(out_dir: str | Path, source: str | Path = SPACE_SOURCE) -> Path:
    """Write the Space folder: app.py, requirements.txt, README.md (card), results/ and the ``pns_hub`` subset."""
    source, out = Path(source), Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(source, out, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    (out / "README.md").write_text(space_card(source), encoding="utf-8")
    (out / "results").mkdir(exist_ok=True)
    package = out / "pns_hub"
    package.mkdir()
    (package / "__init__.py").write_text(SPACE_PACKAGE_INIT)
    for name in SPACE_MODULES:
        target = package / name
        if not target.parent.exists():  # a subpackage: an __init__ of its own, not the checkout's (it imports more)
            target.parent.mkdir(parents=True)
            (target.parent / "__init__.py").write_text(SPACE_PACKAGE_INIT)
        shutil.copy2(PACKAGE / name, target)
    return out


def push_space(repo_id: str, results_repo: str | None = None, out_dir: str | Path | None = None,
               token: str | None = None, endpoint: str | None = None, private: bool | None = None) -> str:
    """Create the Space repo (sdk gradio) and upload the built folder in one commit; returns the commit URL.

    ``results_repo`` becomes the Space variable ``PNS_RESULTS_REPO`` (the dataset repo the app downloads).
    """
    import tempfile

    from pns_hub.hub import push_folder

    with tempfile.TemporaryDirectory() as tmp:
        folder = build_space_folder(Path(out_dir) if out_dir else Path(tmp) / "space")
        variables = [{"key": RESULTS_REPO_VARIABLE, "value": results_repo}] if results_repo else None
        return push_folder(folder, repo_id, repo_type="space", token=token, endpoint=endpoint, private=private,
                           commit_message="Upload the pns-hub leaderboard Space", space_variables=variables,
                           ignore_patterns=["__pycache__/*", "*.pyc"])
