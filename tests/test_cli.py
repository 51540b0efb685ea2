"""One command-line convention: every ``pns-hub`` sub-command's usage line names it, its options are spelled with
dashes (an underscore spelling only beside its dashed one, where TRL's parser adds it), and its defaults are shown."""

import re

import pytest

from pns_hub.cli import COMMANDS, main


SUBCOMMANDS = [*COMMANDS, "experiment pns", "experiment nsr", "experiment glow"]


def _help(command: str, capsys) -> str:
    try:
        code = main([*command.split(), "--help"])
    except SystemExit as exit_info:
        code = exit_info.code
    assert code in (0, None), command
    return capsys.readouterr().out


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_usage_names_the_subcommand_and_options_use_dashes(command, capsys):
    text = _help(command, capsys)
    assert text.startswith(f"usage: pns-hub {command}"), text.splitlines()[0]
    options = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", text))
    lone = [o for o in options if "_" in o and o.replace("_", "-") not in options]
    assert not lone, f"{command}: options without a dashed spelling: {lone}"


@pytest.mark.parametrize("command", ["demo", "eval", "reproduce", "report", "verify", "check-recipe", "bench",
                                     "leaderboard", "experiment pns", "synthesize"])
def test_defaults_are_shown(command, capsys):
    assert "(default:" in _help(command, capsys) or "(default " in _help(command, capsys)


def test_experiment_help_lists_every_experiment(capsys):
    text = _help("experiment", capsys)
    assert "{nsr,glow,pns}" in text and "--output-dir" in text and "--output_dir" not in text
