"""The causal classifier: plain attention classifier when switched off, backdoor NWGM term, dictionary, bundles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _classifier_data import IMAGE_SIZE

from defectlab.bundle.classifier import load_classifier_bundle, save_classifier_bundle
from defectlab.classifiers.causal import STRENGTH_INIT, CausalClassifier
from defectlab.classifiers.confounders import ConfounderDictionary
from defectlab.classifiers.model import AttentionClassifier
from defectlab.classifiers.registry import build_classifier, classifier_from_config
from defectlab.classifiers.train import predict

SIZE = 32  # a 1x1 backbone map: the smallest model


def causal(seed: int = 0, num_strata: int = 3, size: int = SIZE, **switches) -> CausalClassifier:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return CausalClassifier(2, image_size=size, weights="random", num_strata=num_strata, **switches)


def dictionary(model: CausalClassifier, seed: int = 0) -> ConfounderDictionary:
    rng = np.random.default_rng(seed)
    k, channels = model.prototypes.shape
    prior = rng.random(k).astype(np.float32) + 0.1
    return ConfounderDictionary(
        rng.normal(size=(k, channels)).astype(np.float32),
        prior / prior.sum(),
        tuple(f"z{i}" for i in range(k)),
        "given",
    )


def feature_map(model: CausalClassifier, n: int = 5, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, model.backbone.channels, 2, 2, generator=generator).abs()


def with_confounder_weights(model: CausalClassifier, seed: int = 2) -> CausalClassifier:
    """Non-zero confounder and strength weights, so their terms show in the logits."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.confound.weight.copy_(torch.randn(model.confound.weight.shape, generator=generator) * 0.1)
        model.strength.copy_(torch.randn(model.strength.shape, generator=generator))
    return model


def test_all_switches_off_is_the_attention_classifier():
    model = causal(backdoor=False, counterfactual=False, reweight=False)
    model.set_dictionary(dictionary(model))
    plain = AttentionClassifier(2, image_size=SIZE, weights="random")
    shared = {k: v for k, v in model.state_dict().items() if k in plain.state_dict()}
    assert set(shared) == set(plain.state_dict())
    plain.load_state_dict(shared)
    model.eval(), plain.eval()
    maps = feature_map(model)
    with torch.no_grad():
        expected = plain.forward_features_map(maps)
        torch.testing.assert_close(model.forward_features_map(maps), expected, rtol=0, atol=0)
        torch.testing.assert_close(model.embed_map(maps), plain.embed_map(maps), rtol=0, atol=0)
    assert not model.confound.weight.any() and not model.confound.weight.requires_grad
    assert not model.strength.requires_grad
    assert model.parts() == {"backdoor": False, "counterfactual": False, "reweight": False}


def test_interventional_logits_add_the_nwgm_confounder_term():
    model = with_confounder_weights(causal())
    d = dictionary(model)
    model.set_dictionary(d)
    model.eval()
    maps = feature_map(model)
    with torch.no_grad():
        pooled = model.attention(maps).mean(dim=(2, 3)) * torch.sigmoid(model.strength)
        embedding = model.hidden(pooled)
        expected_prior_mean = torch.from_numpy(d.prior @ d.prototypes)
        confound = model.confound.weight @ expected_prior_mean  # U sum_z P(z) p_z
        expected = model.final(embedding) + confound[None, :]
        torch.testing.assert_close(model.embed_map(maps), embedding)
        torch.testing.assert_close(model.forward_features_map(maps), expected)
        torch.testing.assert_close(model.confounder_term(), confound[None, :])
        assert model.confounder_term().abs().sum() > 0


def test_observational_logits_use_each_samples_own_prototype():
    model = with_confounder_weights(causal())
    d = dictionary(model)
    model.set_dictionary(d)
    model.eval()
    maps = feature_map(model, n=4)
    strata = torch.tensor([2, 0, 1, 2])
    with torch.no_grad():
        base = model.final(model.embed_map(maps))
        observational = model.observational_logits(maps, strata)
        for i, z in enumerate(strata.tolist()):
            term = model.confound.weight @ torch.from_numpy(d.prototypes[z])
            torch.testing.assert_close(observational[i], base[i] + term)
        assert not torch.allclose(observational[1], base[1] + model.confounder_term()[0])


def test_coefficients():
    off = causal(reweight=False)
    assert torch.equal(off.coefficients(), torch.ones(off.backbone.channels))
    on = causal(reweight=True)
    assert on.strength.requires_grad
    initial = torch.sigmoid(torch.tensor(STRENGTH_INIT)).item()
    torch.testing.assert_close(on.coefficients(), torch.full((on.backbone.channels,), initial))
    with torch.no_grad():
        on.strength.copy_(torch.linspace(-4, 4, on.backbone.channels))
    torch.testing.assert_close(on.coefficients(), torch.sigmoid(torch.linspace(-4, 4, on.backbone.channels)))
    maps = feature_map(on)
    torch.testing.assert_close(on.pooled(maps), on.attention(maps).mean(dim=(2, 3)) * on.coefficients())


def test_set_dictionary_loads_prototypes_and_prior_and_checks_the_shape():
    model = causal(num_strata=3)
    torch.testing.assert_close(model.prior, torch.full((3,), 1 / 3))
    assert not model.prototypes.any()
    d = dictionary(model)
    model.set_dictionary(d)
    np.testing.assert_array_equal(model.prototypes.numpy(), d.prototypes)
    np.testing.assert_array_equal(model.prior.numpy(), d.prior)
    two = ConfounderDictionary(d.prototypes[:2], np.array([0.5, 0.5], np.float32), ("a", "b"), "given")
    with pytest.raises(ValueError, match=r"dictionary of shape \(2, 432\), model expects \(3, 432\)"):
        model.set_dictionary(two)
    narrow = ConfounderDictionary(d.prototypes[:, :10], d.prior, d.names, "given")
    with pytest.raises(ValueError, match="model expects"):
        model.set_dictionary(narrow)


@pytest.mark.parametrize("switches", [{}, {"backdoor": False, "counterfactual": True, "reweight": False}])
def test_config_round_trip(switches):
    model = causal(num_strata=4, **switches)
    config = model.config()
    assert config["num_strata"] == 4 and model.kind == "causal"
    assert {k: config[k] for k in ("backdoor", "counterfactual", "reweight")} == model.parts()
    rebuilt = classifier_from_config("causal", config)
    assert isinstance(rebuilt, CausalClassifier)
    assert rebuilt.config() == config
    assert rebuilt.prototypes.shape == (4, model.backbone.channels)
    assert rebuilt.confound.weight.requires_grad == model.backdoor


def test_build_classifier_makes_a_causal_model():
    model = build_classifier("causal", 2, image_size=SIZE, weights="random", seed=0)
    assert isinstance(model, CausalClassifier)
    assert model.parts() == {"backdoor": True, "counterfactual": True, "reweight": True}


def test_bundle_round_trip_keeps_the_dictionary_and_switches(tmp_path, val_set):
    model = with_confounder_weights(causal(num_strata=3, size=IMAGE_SIZE, reweight=False))
    model.set_dictionary(dictionary(model))
    path = save_classifier_bundle(tmp_path / "causal", model, ("red", "blue"), {"strata": ["z0", "z1", "z2"]})
    bundle = load_classifier_bundle(path)
    loaded = bundle.model
    assert isinstance(loaded, CausalClassifier) and not loaded.training
    assert bundle.manifest["model"] == {"kind": "causal", "config": model.config()}
    assert loaded.parts() == model.parts() and loaded.num_strata == 3
    torch.testing.assert_close(loaded.prototypes, model.prototypes, rtol=0, atol=0)
    torch.testing.assert_close(loaded.prior, model.prior, rtol=0, atol=0)
    expected, expected_embeddings = predict(model, val_set.images[:4])
    probabilities, embeddings = predict(loaded, val_set.images[:4])
    np.testing.assert_array_equal(probabilities, expected)
    np.testing.assert_array_equal(embeddings, expected_embeddings)
