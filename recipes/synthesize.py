"""Build the negatives dataset (pns + baseline configs) in Hub layout.

    python recipes/synthesize.py --config recipes/smollm2-135m-instruct/synthesize.yaml
    accelerate launch --num_processes 8 recipes/synthesize.py --config recipes/smollm2-135m-instruct/synthesize.yaml  # GPUs
    torchrun --nproc_per_node 2 recipes/synthesize.py --config recipes/smollm2-135m-instruct/synthesize.yaml  # 2 CPU processes
"""

import sys

from pns_hub.synthesis.run import cli_main


if __name__ == "__main__":
    sys.exit(cli_main(sys.argv[1:]))
