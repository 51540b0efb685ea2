"""Sample k solutions per problem, label them with math-verify, write the trajectories dataset (Hub layout).

    python recipes/sample_trajectories.py --config recipes/smollm2-135m-instruct/sample_trajectories.yaml
"""

import logging
import sys

from trl import TrlParser

from pns_hub.trainers.configs import TrajectoryArguments
from pns_hub.synthesis.trajectories import sample_trajectories


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    (args,) = TrlParser((TrajectoryArguments,)).parse_args_and_config(argv)
    summary = sample_trajectories(**vars(args))
    print({k: v for k, v in summary.items() if k != "verdicts"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
