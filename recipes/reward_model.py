"""Train the PNS reward model (centred Bradley-Terry on verified correct/wrong pairs) from a YAML recipe.

    accelerate launch --config_file recipes/accelerate_configs/single_cpu.yaml recipes/reward_model.py \
        --config recipes/smollm2-135m-instruct/reward_model.yaml

Writes the RM repo folder (weights, tokenizer, card), pairs.jsonl and eval_results.json to output_dir.
"""

import json
import logging
import sys

from trl import ModelConfig, RewardConfig, TrlParser

from pns_hub.trainers.pns_configs import PNSRewardConfig, RewardModelScriptArguments


def main(argv=None) -> dict:
    from pns_hub.rewards.reward_model import train_reward_model

    parser = TrlParser((RewardModelScriptArguments, PNSRewardConfig, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config(args=argv)
    metrics = train_reward_model(script_args, training_args, model_args)
    print(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main(sys.argv[1:])
