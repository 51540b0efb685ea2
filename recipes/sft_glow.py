"""GLOW: SFT on positive + negative trajectories with per-sample inter-epoch-gain weights.

    python recipes/sample_trajectories.py --config recipes/smollm2-135m-instruct/sample_trajectories.yaml
    python recipes/sft_glow.py --config recipes/smollm2-135m-instruct/sft_glow.yaml
    accelerate launch --config_file recipes/accelerate_configs/<cfg>.yaml recipes/sft_glow.py --config ...
"""

import logging
import sys

from trl import ModelConfig

from pns_hub.trainers.configs import GlowConfig, TrainScriptArguments, parse_recipe_args
from pns_hub.trainers.glow import train_glow


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    script_args, training_args, model_args = parse_recipe_args((TrainScriptArguments, GlowConfig, ModelConfig), argv)
    summary = train_glow(script_args, training_args, model_args)
    print({k: v for k, v in summary.items() if k != "per_epoch"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
