"""Build the negatives dataset (pns + baseline configs) in Hub layout.

    python recipes/synthesize.py --config recipes/smollm2-135m-instruct/synthesize.yaml
    accelerate launch --num_processes 2 --cpu recipes/synthesize.py --config recipes/smollm2-135m-instruct/synthesize.yaml
"""

import sys

from pns_hub.synthesize import cli_main


if __name__ == "__main__":
    sys.exit(cli_main(sys.argv[1:]))
