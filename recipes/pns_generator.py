"""Train the PNS generator (reverse-RL GRPO) from a YAML recipe.

    accelerate launch --config_file recipes/accelerate_configs/single_cpu.yaml recipes/pns_generator.py \
        --config recipes/smollm2-135m-instruct/pns_generator.yaml
    # GPUs: --config_file recipes/accelerate_configs/{ddp,zero3,fsdp}.yaml and --use_vllm true

The logic lives in pns_hub.trainers.grpo.train_generator; this script only parses the config.
"""

import logging
import sys

from trl import ModelConfig, TrlParser

from pns_hub.trainers.pns_configs import PNSGRPOConfig, PNSGeneratorScriptArguments


def main(argv=None) -> str:
    from pns_hub.trainers.grpo import train_generator

    parser = TrlParser((PNSGeneratorScriptArguments, PNSGRPOConfig, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config(args=argv)
    folder = train_generator(script_args, training_args, model_args)
    print(f"generator saved to {folder}")
    return folder


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main(sys.argv[1:])
