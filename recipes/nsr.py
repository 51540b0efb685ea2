"""PSR / NSR / W-REINFORCE: baseline-free REINFORCE on math-verify verdicts (TRL GRPOTrainer subclass).

    python recipes/nsr.py --config recipes/smollm2-135m-instruct/nsr.yaml
    python recipes/nsr.py --config recipes/smollm2-135m-instruct/nsr.yaml --nsr_mode nsr
    accelerate launch --config_file recipes/accelerate_configs/<cfg>.yaml recipes/nsr.py --config ...
"""

import logging
import sys

from trl import ModelConfig

from pns_hub.trainers.configs import NSRConfig, TrainScriptArguments, parse_recipe_args
from pns_hub.trainers.nsr import train_nsr


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    script_args, training_args, model_args = parse_recipe_args((TrainScriptArguments, NSRConfig, ModelConfig), argv)
    print(train_nsr(script_args, training_args, model_args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
