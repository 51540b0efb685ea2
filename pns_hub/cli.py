"""``pns-hub`` command line: one entry point, each sub-command implemented by the module that owns the job."""

from __future__ import annotations

import importlib
import logging
import sys


COMMANDS = {
    # name: (module, help)
    "demo": ("pns_hub.experiments.demo", "the whole PNS method end to end on the embedded default, offline"),
    "reproduce": ("pns_hub.eval.reproduce", "re-evaluate published artifacts and rebuild/diff the leaderboard"),
    "verify": ("pns_hub.grading.cli", "check a JSONL of completions against gold answers"),
    "synthesize": ("pns_hub.synthesis.run", "build the negatives dataset (pns + baseline configs)"),
    "report": ("pns_hub.synthesis.report", "plausibility report of a negatives dataset"),
    "trajectories": ("pns_hub.synthesis.trajectories", "sample and label k solutions per problem (GLOW's SFT dataset)"),
    "eval": ("pns_hub.eval.run", "evaluate a model on the seven benchmarks with lighteval"),
    "leaderboard": ("pns_hub.eval.leaderboard", "aggregate results JSON into a leaderboard table and chart"),
    "bench": ("pns_hub.experiments.bench", "run the benchmark suite (throughput vs the measured roofline)"),
    "experiment": ("pns_hub.experiments.nsr_glow", "the NSR / W-REINFORCE (nsr), GLOW (glow) or PNS (pns) claim, measured on the testbed"),
    "check-recipe": ("pns_hub.check_recipe.check", "validate a recipe without its GPUs: parse, meta-device model, memory"),
}


def _usage() -> str:
    lines = ["usage: pns-hub <command> [options]", "", "commands:"]
    lines += [f"  {name:<12} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'pns-hub <command> --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from pns_hub import __version__
        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"pns-hub: unknown command '{name}'\n\n{_usage()}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from pns_hub.memory import fix_mmap_threshold

    fix_mmap_threshold()  # memory that long runs free goes back to the OS (see its docstring)
    if name == "experiment" and rest[:1] == ["pns"]:  # the demo's chain at the experiment's size
        name, rest = "experiment_pns", rest[1:]
    module = importlib.import_module(COMMANDS.get(name, ("pns_hub.experiments.pns",))[0])
    try:
        return int(module.cli_main(rest) or 0)
    except user_errors() as err:  # the message names the file, line or folder: a traceback would add nothing
        print(f"pns-hub {argv[0]}: error: {err}", file=sys.stderr)
        return 1 if type(err).__name__ == "PushError" else 2


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message is the whole story (a path that is not there, a bad input line, a push that found no
    network): one line, no traceback. Anything else is a bug and keeps its traceback."""
    from pns_hub.data.problems import DataError
    from pns_hub.hub import PushError
    from pns_hub.eval.results import ResultsError

    return FileNotFoundError, NotADirectoryError, DataError, PushError, ResultsError


if __name__ == "__main__":
    sys.exit(main())
