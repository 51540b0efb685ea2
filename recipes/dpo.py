"""DPO on a pns-hub negatives dataset (thin script: the logic is pns_hub.trainers.dpo.train_dpo).

    accelerate launch --config_file recipes/accelerate_configs/single_cpu.yaml recipes/dpo.py \
        --config recipes/smollm2-135m-instruct/dpo.yaml
    # multi-GPU: ddp.yaml, fsdp.yaml or zero3.yaml instead of single_cpu.yaml
"""

import logging

from trl import ModelConfig, TrlParser

from pns_hub.trainers.dpo import DPOScriptArguments, PNSDPOConfig, train_dpo


def main():
    parser = TrlParser((DPOScriptArguments, PNSDPOConfig, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config()
    logging.basicConfig(level=training_args.get_process_log_level() if hasattr(training_args, "get_process_log_level")
                        else logging.INFO)
    output_dir = train_dpo(script_args, training_args, model_args)
    print(f"saved to {output_dir}")


if __name__ == "__main__":
    main()
