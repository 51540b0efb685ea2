"""The leaderboard Space deploys as a Space (issue 16).

The Hub here is ``tests.hub_fake.FakeHub``, a loopback *fake*: no open-source server implements the Hub's upload
API, so it implements the endpoints ``create_repo``/``upload_folder`` and ``snapshot_download`` use and keeps what
was pushed. The slow test runs the Space the way the Hub would: the files the push uploaded, in a venv built from
their ``requirements.txt`` alone (no pns-hub, no PYTHONPATH), started with ``python app.py`` and the Space's
variables, reading its results repo from the fake Hub, and looked at in headless Chromium.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pns_hub.eval import space
from pns_hub.eval.leaderboard import cli_main
from tests.hub_fake import FakeHub
from tests.test_leaderboard import FIXTURE, _wait_for, browser  # noqa: F401  (browser: the Chromium fixture)


REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS = ["pns-hub/smollm2-135m-pns-dpo", "pns-hub/smollm2-135m-rs-dpo", "HuggingFaceTB/SmolLM2-135M-Instruct"]
# Wheels for the Space venv, kept between runs so the venv takes seconds, not a minute of downloads.
WHEEL_CACHE = Path(os.environ.get("PNS_WHEEL_CACHE") or Path.home() / ".cache" / "pns-hub" / "space-wheels")


def _results_with_intervals(folder: Path) -> Path:
    """The fixture runs with per-problem gsm8k outcomes (50 problems), hence 95% intervals and, for the trained
    models, paired differences to the base (which the Space computes with the vendored pns_hub.stats)."""
    from pns_hub.eval.results import intervals_from_counts

    shutil.copytree(FIXTURE, folder)
    for path in folder.rglob("*.json"):
        data = json.loads(path.read_text())
        if "config_general" in data:
            continue  # lighteval's own file
        correct = round(50 * data["scores"]["gsm8k"])
        data["per_problem"] = {"gsm8k": {f"gsm8k/{i}": int(i < correct) for i in range(50)}}
        data["intervals"] = intervals_from_counts(data["per_problem"], 1)
        path.write_text(json.dumps(data))
    return folder


def _push_space(fake: FakeHub, monkeypatch) -> dict[str, bytes]:
    """``pns-hub leaderboard --push-space`` against the fake Hub; returns the Space's files as uploaded."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", fake.endpoint)
    monkeypatch.setenv("HF_TOKEN", "hf_fake")
    assert cli_main(["--push-space", "org/board", "--results-repo", "org/results"]) == 0
    return fake.files("spaces", "org/board")


def test_push_space_creates_a_gradio_space_that_needs_no_pns_hub(monkeypatch, online):
    from huggingface_hub import SpaceCard

    with FakeHub() as fake:
        files = _push_space(fake, monkeypatch)
    assert fake.repos["org/board"] == {"type": "space", "private": None, "sdk": "gradio",
                                       "variables": [{"key": "PNS_RESULTS_REPO", "value": "org/results"}]}
    bundled = {f"results/{p.name}" for p in (REPO_ROOT / "leaderboard" / "results").glob("*.json")}
    assert set(files) == {"README.md", "app.py", "requirements.txt", "pns_hub/__init__.py", "pns_hub/eval/__init__.py",
                          *(f"pns_hub/{name}" for name in space.SPACE_MODULES), *bundled}  # results ride along
    card = SpaceCard(files["README.md"].decode())
    requirements = files["requirements.txt"].decode()
    assert card.data.sdk == "gradio" and card.data.app_file == "app.py"
    assert f"gradio=={card.data.sdk_version}\n" in requirements  # the Space installs the SDK the app was tested on
    assert "pns-hub" not in [line.split("==")[0].strip() for line in requirements.splitlines()]
    for name in space.SPACE_MODULES:  # the record code is this checkout's own, not a second copy that can drift
        assert files[f"pns_hub/{name}"] == (REPO_ROOT / "pns_hub" / name).read_bytes()


def _space_venv(requirements: Path, where: Path) -> Path:
    """A clean venv with only the Space's requirements (wheels from WHEEL_CACHE, downloaded into it once)."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", "--find-links",
           str(WHEEL_CACHE), "-r", str(requirements)]
    if subprocess.run(pip, capture_output=True).returncode != 0:
        WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(where / "bin" / "python"), "-m", "pip", "download", "-q", "-d", str(WHEEL_CACHE),
                        "-r", str(requirements)], check=True)
        subprocess.run(pip, check=True)
    return where / "bin" / "python"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(python: Path, space_dir: Path, env: dict) -> subprocess.Popen:
    proc = subprocess.Popen([str(python), "app.py"], cwd=space_dir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 180
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{env['GRADIO_SERVER_PORT']}/", timeout=2)
            return proc
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(f"the Space did not start: {proc.stdout.read()[-3000:]}")
            time.sleep(0.5)


@pytest.mark.slow
def test_space_runs_from_its_requirements_and_reads_the_results_repo(tmp_path, monkeypatch, online, browser):  # noqa: F811
    from pns_hub.hub import push_folder

    with FakeHub() as fake:
        push_folder(_results_with_intervals(tmp_path / "results"), "org/results", repo_type="dataset",
                    endpoint=fake.endpoint, token="hf_fake")
        files = _push_space(fake, monkeypatch)
        space_dir = tmp_path / "space"  # what the Space's git clone holds: the uploaded files, nothing else
        for name, content in files.items():
            (space_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (space_dir / name).write_bytes(content)
        python = _space_venv(space_dir / "requirements.txt", tmp_path / "venv")
        variables = {v["key"]: v["value"] for v in fake.repos["org/board"]["variables"]}
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf"),
               "HF_ENDPOINT": fake.endpoint, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(_free_port()),
               "GRADIO_ANALYTICS_ENABLED": "False", **variables}
        proc = _start(python, space_dir, env)
        try:
            browser.get(f"http://127.0.0.1:{env['GRADIO_SERVER_PORT']}/")
            _wait_for(browser, MODELS, timeout=60)  # all fixture runs, best average first
            page = browser.execute_script("return document.body.innerText")
            assert "3 runs from Hub dataset org/results" in page.replace("`", "")
            table = browser.execute_script("return document.querySelector('#leaderboard-table').innerText")
            assert "gsm8k 95% CI" in table and "n=50" in table  # scores with their n and interval
            assert "Paired differences to the base model" in page
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _app_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("leaderboard_app", REPO_ROOT / "leaderboard" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_app_reads_the_results_repo_and_falls_back_to_the_local_folder(tmp_path, monkeypatch, online):
    """PNS_RESULTS_REPO is fetched with snapshot_download; a repo that cannot be reached shows the local folder,
    and the page says so."""
    import huggingface_hub.constants

    app = _app_module()
    monkeypatch.setenv("PNS_LEADERBOARD_RESULTS", str(FIXTURE))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    with FakeHub() as fake:
        from pns_hub.hub import push_folder

        push_folder(FIXTURE, "org/results", repo_type="dataset", endpoint=fake.endpoint, token="hf_fake")
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", fake.endpoint)  # what HF_ENDPOINT sets at import
        monkeypatch.setattr(huggingface_hub.constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            fake.endpoint + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setenv("PNS_RESULTS_REPO", "org/results")
        folder, source = app.results_source()
        assert source == "Hub dataset `org/results`" and folder != FIXTURE
        assert sorted(p.name for p in folder.rglob("*.json")) == sorted(p.name for p in FIXTURE.rglob("*.json"))
        monkeypatch.setenv("PNS_RESULTS_REPO", "org/absent")
        folder, source = app.results_source()
    assert folder == FIXTURE and "Hub dataset `org/absent` unavailable" in source
    monkeypatch.delenv("PNS_RESULTS_REPO")
    assert app.results_source() == (FIXTURE, f"local folder `{FIXTURE.name}`")
