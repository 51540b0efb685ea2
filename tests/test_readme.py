"""The README is a front page whose commands work as written: at most 200 lines, every results row names a results
file that exists, every relative link in it, docs/ and the results READMEs resolves, and every shell block marked
``bash runnable`` is checked here without running the heavy parts:
``make`` targets by ``make -n``, ``pns-hub`` sub-commands by ``--help``, recipes by parsing their YAML and flags
with their own ``TrlParser``, lighteval's ``--custom-tasks`` file for the named task, ``python -c`` code by compiling
it. tests/test_flows.py (slow) runs the data, DPO and evaluation flows on the demo's artifacts."""

import re
import shlex
import subprocess
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def runnable_blocks(text: str = README) -> list[str]:
    return re.findall(r"```bash runnable\n(.*?)```", text, flags=re.S)


def commands(block: str) -> list[str]:
    """One string per command: continuation lines joined, comments dropped; a ``python -c "..."`` spans lines."""
    joined, out, pending = block.replace("\\\n", " "), [], None
    for line in joined.splitlines():
        if pending is not None:
            pending += "\n" + line
            if line.strip() == '"':
                out.append(pending)
                pending = None
            continue
        line = line.split("  #")[0].split(" # ")[0].strip()
        if line.startswith('python -c "') and line.count('"') == 1:
            pending = line
        elif line and not line.startswith("#"):
            out.append(line)
    return out


ALL = [c for b in runnable_blocks() for c in commands(b)]


def test_readme_is_a_front_page():
    assert len(README.splitlines()) <= 200
    assert "dequantised Q4_1" in README and len(runnable_blocks()) >= 5
    rows = [line for line in README.splitlines() if line.startswith("| ") and "results file" not in line
            and "](benchmarks/results/" in line]
    assert len(rows) >= 4
    for row in rows:
        path = re.search(r"\]\((benchmarks/results/[^)]+)\)", row)[1]
        assert (ROOT / path).is_file(), path
    # its links to docs/ and elsewhere: test_every_relative_link_in_the_docs_resolves (the README is one of its pages)


def markdown_pages() -> list[Path]:
    """The pages a reader follows links through: the README, docs/ and the results folders' READMEs."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
            *sorted((ROOT / "benchmarks" / "results").glob("**/README.md"))]


def test_every_relative_link_in_the_docs_resolves():
    """Why: results move between folders as runs finish (an interim report's folder is renamed when the last seed
    lands), and a link or image is resolved against its own page's folder, which a link written from the repo root
    gets wrong. Every relative link and image in the README, docs/ and the results READMEs must name a file that
    exists."""
    broken = []
    for page in markdown_pages():
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)  # code is not a link
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            path = target.split("#")[0]
            if not path or re.match(r"[a-z]+:", path):  # an anchor on the same page, or a URL
                continue
            if not (page.parent / path).is_file():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken


@pytest.mark.parametrize("command", ALL)
def test_every_runnable_command_is_valid_as_written(command, capsys):
    words = shlex.split(command) if not command.startswith("python -c") else ["python", "-c"]
    program = words[0]
    if program == "make":
        out = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    elif program == "pns-hub":
        from pns_hub.cli import COMMANDS, main

        sub = words[1]
        assert sub in COMMANDS or sub.startswith("-"), command
        try:
            code = main([sub, "--help"] if sub in COMMANDS else ["--help"])
        except SystemExit as exit_info:
            code = exit_info.code
        assert code in (0, None)
        options = set(re.findall(r"--[\w-]+", capsys.readouterr().out))
        assert {w.split("=")[0] for w in words if w.startswith("--")} <= options | {"--help"}, command
    elif program == "accelerate":
        assert words[1] == "launch"
        config = words[words.index("--config_file") + 1]
        assert (ROOT / config).is_file(), config
        script = next(w for w in words if w.endswith(".py"))
        args = words[words.index(script) + 1:]
        from trl import ModelConfig, TrlParser

        from pns_hub.trainers.dpo import DPOScriptArguments, PNSDPOConfig

        assert script == "recipes/dpo.py" and (ROOT / script).is_file()
        args[args.index("--config") + 1] = str(ROOT / args[args.index("--config") + 1])
        script_args, training, model_args = TrlParser((DPOScriptArguments, PNSDPOConfig, ModelConfig)) \
            .parse_args_and_config(args=args)
        # the defaults read what `make demo` writes
        assert model_args.model_name_or_path == "outputs/demo/hub/smollm2-135m-testbed-sft"
        assert script_args.dataset_name == "outputs/demo/hub/pns-negatives" and training.max_steps == 2
    elif program == "lighteval":
        tasks_file = ROOT / words[words.index("--custom-tasks") + 1]
        source = tasks_file.read_text(encoding="utf-8")
        assert "TASKS_TABLE" in source
        from pns_hub.eval.tasks import TASKS_TABLE

        task = words[3].split("|")[0]
        assert task in {t.name for t in TASKS_TABLE}, task
    elif program == "python":
        compile(command.split('"', 1)[1].rsplit('"', 1)[0], "<README>", "exec")
    else:
        assert program == "cp", command
