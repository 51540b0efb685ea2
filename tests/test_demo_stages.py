"""The demo's training stages take optimizer steps of 8 examples in micro-batches (gradient accumulation), which
bounds their memory by micro-batch x length. That must not change what is learned: the same examples per step,
the same loss normalisation, so the same weights up to float rounding."""

import pytest

from pns_hub.experiments import demo_stages as st
def _weights(folder: str):
    from safetensors.torch import load_file

    return load_file(f"{folder}/model.safetensors")


def test_micro_batches_give_the_full_batch_weights(tiny_causal_lm_path, tmp_path, monkeypatch):
    """f32, so the comparison sees the arithmetic and not bf16 storage (in bf16 the two differ by one rounding step,
    ~0.2% of the update). Measured: the two updates differ by ~1e-6 of their norm; taking the micro-batches as
    optimizer steps of their own (no accumulation) differs by ~270%."""
    import torch

    monkeypatch.setenv("PNS_HUB_BF16", "0")
    full = st.stage_warmup(tiny_causal_lm_path, 16, 8, 0, tmp_path / "batch8", "local/w8")["folder"]
    micro = st.stage_warmup(tiny_causal_lm_path, 16, 2, 0, tmp_path / "micro2", "local/w2")["folder"]
    start, a, b = _weights(tiny_causal_lm_path), _weights(full), _weights(micro)
    assert {t.dtype for t in a.values()} == {torch.float32}
    update_a = torch.cat([(a[k] - start[k]).flatten() for k in a])
    update_b = torch.cat([(b[k] - start[k]).flatten() for k in a])
    assert update_a.norm() > 1e-3, "training did not move the weights: the comparison below would be vacuous"
    gap = ((update_a - update_b).norm() / update_a.norm()).item()
    assert gap < 1e-4, f"micro-batches of 2 x 4 updated the weights differently from batches of 8 (relative {gap:.2e})"


@pytest.mark.parametrize("batch,micro", [(8, 3), (8, 0), (4, 8)])
def test_micro_batch_must_divide_the_batch(batch, micro):
    with pytest.raises(ValueError, match="divisor"):
        st.accumulate(batch, micro)


def test_accumulation_flags():
    assert st.accumulate(8, 2) == {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 4,
                                   "pad_to_multiple_of": st.PAD_MULTIPLE}
