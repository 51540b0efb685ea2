"""One hardware-defaults function for every TRL config: the same YAML value means the same thing in every recipe."""

import pytest

from pns_hub import hardware

from pns_hub import models
def test_bf16_none_and_true_mean_native_false_stays_off():
    assert hardware.resolve_cpu_bf16(None, native=True) is True
    assert hardware.resolve_cpu_bf16(True, native=True) is True
    assert hardware.resolve_cpu_bf16(False, native=True) is False
    assert hardware.resolve_cpu_bf16(None, native=False) is False
    assert hardware.resolve_cpu_bf16(True, native=False) is False


@pytest.mark.parametrize("native", [True, False])
def test_every_recipe_config_applies_the_same_cpu_defaults(tmp_path, monkeypatch, native):
    """GRPO, reward, SFT, DPO, GLOW and NSR configs built from the same (TRL-default) values end the same on CPU:
    ``bf16=None`` resolves to the CPU's native support in all of them, checkpointing off, ``use_cpu`` on."""
    import torch

    from pns_hub.trainers.dpo import PNSDPOConfig
    from pns_hub.trainers.pns_configs import PNSGRPOConfig, PNSRewardConfig, PNSSFTConfig
    from pns_hub.trainers.configs import GlowConfig, NSRConfig

    if torch.cuda.is_available():
        pytest.skip("CPU defaults apply only without a GPU")
    monkeypatch.setattr(models, "cpu_supports_bf16", lambda: native)
    for cls in (PNSGRPOConfig, PNSRewardConfig, PNSSFTConfig, PNSDPOConfig, GlowConfig, NSRConfig):
        kwargs = {"num_generations": 2, "per_device_train_batch_size": 2} if cls in (PNSGRPOConfig, NSRConfig) else {}
        args = cls(output_dir=str(tmp_path / cls.__name__), report_to="none", **kwargs)
        assert args.use_cpu, cls.__name__
        assert args.bf16 is native and not args.fp16, cls.__name__
        assert not args.activation_checkpointing and not args.gradient_checkpointing, cls.__name__


def test_plain_trl_config_after_post_init_gets_the_same_defaults(tmp_path, monkeypatch):
    """A caller's own ``trl.GRPOConfig`` (TRL resolved ``bf16=None`` to True at init) is fitted the same way."""
    import torch
    import trl

    if torch.cuda.is_available():
        pytest.skip("CPU defaults apply only without a GPU")
    monkeypatch.setattr(models, "cpu_supports_bf16", lambda: False)
    args = trl.SFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    hardware.apply_hardware_defaults(args)
    assert args.use_cpu and args.bf16 is False and not args.gradient_checkpointing


@pytest.mark.parametrize("launched_for_cpu", [False, True])
def test_a_cpu_launch_on_a_gpu_machine_gets_the_cpu_defaults(monkeypatch, launched_for_cpu):
    """``accelerate launch --config_file single_cpu.yaml`` on a GPU machine exports ACCELERATE_USE_CPU: the config must
    then train on the CPU (an H100 run failed with batches on the CPU and the model on cuda:0); without it a GPU
    machine's YAML values stand."""
    from types import SimpleNamespace

    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(models, "cpu_supports_bf16", lambda: False)
    monkeypatch.setenv("ACCELERATE_USE_CPU", "true" if launched_for_cpu else "false")
    args = SimpleNamespace(use_cpu=False, bf16=True, fp16=False, activation_checkpointing=True,
                           gradient_checkpointing=True)
    hardware.apply_hardware_defaults(args)
    if launched_for_cpu:
        assert args.use_cpu and args.bf16 is False and not args.activation_checkpointing
    else:
        assert not args.use_cpu and args.bf16 is True and args.activation_checkpointing
