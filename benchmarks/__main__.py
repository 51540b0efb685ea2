"""``python -m benchmarks [--quick] [--only NAME ...]``: the same suite as ``pns-hub bench``."""

import sys

from pns_hub.experiments.bench import cli_main


if __name__ == "__main__":
    sys.exit(cli_main(sys.argv[1:]))
