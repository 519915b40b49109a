"""`--center-adapter`: the adapter's projection starts on standardised training features."""

import numpy as np
import torch

from musiscene_core.models.presets import resolve_model
from musiscene_core.train.dataset import ExampleSet
from musiscene_core.train.loop import center_adapter


def _projection_io(captioner, features):
    seen = {}
    projection = captioner.model.music_adapter.mu_mert_proj
    hook = projection.register_forward_hook(
        lambda m, i, o: seen.update(x=i[0].reshape(len(features), -1), y=o.reshape(len(features), -1))
    )
    with torch.no_grad():
        captioner.model.music_adapter(torch.as_tensor(features))
    hook.remove()
    return seen["x"].double(), seen["y"].double()


def test_projection_sees_standardised_features_after_centring(tiny_model):
    captioner = resolve_model(str(tiny_model)).load_captioner(device="cpu")
    adapter = captioner.config.adapter
    rng = np.random.default_rng(0)
    # Features like a random MERT's: one large shared component, pieces differing by a few percent.
    common = rng.standard_normal((1, adapter.mert_layers, adapter.mert_dim))
    features = (common + 0.02 * rng.standard_normal((40, adapter.mert_layers, adapter.mert_dim))).astype(np.float32)
    weight_before = captioner.model.music_adapter.mu_mert_proj.weight.detach().double().clone()
    x, y_before = _projection_io(captioner, features)
    spread_before = (y_before - y_before.mean(0)).norm(dim=1).mean()

    center_adapter(captioner, ExampleSet([""] * 40, [""] * 40, [""] * 40, features.astype(np.float16)))
    _, y = _projection_io(captioner, features)
    # Half-precision storage of the examples rounds the features the statistics come from.
    standardised = (x - x.mean(0)) / x.std(0)
    assert torch.allclose(y, standardised @ weight_before.T, atol=0.05 * float(y.abs().max()))
    assert float(y.mean(0).abs().max()) < 0.02 * float(y.abs().max())
    # Differences between pieces are now of the order of the weights, not of a few thousandths of them.
    assert (y - y.mean(0)).norm(dim=1).mean() > 20 * spread_before
