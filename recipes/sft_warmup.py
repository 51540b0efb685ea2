"""Format warm-up SFT on gold solutions (so the policy answers in \\boxed{}), from a YAML recipe.

    accelerate launch --config_file recipes/accelerate_configs/single_cpu.yaml recipes/sft_warmup.py \
        --config recipes/smollm2-135m-instruct/sft_warmup.yaml
"""

import logging
import sys

from trl import ModelConfig, TrlParser

from pns_hub.trainers.pns_configs import PNSSFTConfig
from pns_hub.trainers.sft import SFTWarmupArguments, train_sft_warmup


def main(argv=None) -> str:
    parser = TrlParser((SFTWarmupArguments, PNSSFTConfig, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config(args=argv)
    folder = train_sft_warmup(script_args, training_args, model_args)
    print(folder)
    return folder


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main(sys.argv[1:])
