"""Training: separable toy data is learnt, early stopping keeps the best epoch, runs are seeded."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _classifier_data import IMAGE_SIZE, coloured_samples, labelled

from defectlab.classifiers import train as train_module
from defectlab.classifiers.labels import LabelledSamples
from defectlab.classifiers.registry import build_classifier
from defectlab.classifiers.train import TrainConfig, evaluate_classifier, predict, train_classifier
from defectlab.errors import ConfigError, DataError

HEAD = TrainConfig(epochs=8, batch_size=8, lr=3e-3, patience=8, seed=0, mode="head")


def attention():
    return build_classifier("attention", 2, image_size=IMAGE_SIZE, weights="random", seed=0)


@pytest.fixture(scope="module")
def trained(train_set, val_set):
    model = attention()
    return model, train_classifier(model, train_set, val_set, HEAD, progress=False)


def test_head_mode_learns_separable_classes_on_cached_features(trained, val_set):
    model, result = trained
    assert result.best_val_macro_f1 == 1.0
    assert model.backbone_frozen and not model.training
    assert [h["epoch"] for h in result.history][:2] == [1, 2]
    assert set(result.history[0]) == {"epoch", "train_loss", "lr", "val_loss", "val_accuracy", "val_macro_f1", "val_selection"}
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert evaluate_classifier(model, val_set) == {"accuracy": 1.0, "macro_f1": 1.0}


def test_training_is_seeded_and_keeps_the_callers_rng(train_set, val_set, trained):
    _, first = trained
    state = torch.random.get_rng_state()
    again = train_classifier(attention(), train_set, val_set, HEAD, progress=False)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert [h["train_loss"] for h in again.history] == [h["train_loss"] for h in first.history]


def test_small_cnn_finetunes_on_augmented_images(train_set, val_set):
    model = build_classifier("smallcnn", 2, image_size=IMAGE_SIZE, seed=0)
    config = TrainConfig(epochs=4, batch_size=8, lr=3e-3, patience=4, mode="finetune", loss="ce")
    result = train_classifier(model, train_set, val_set, config, progress=False)
    assert result.best_val_macro_f1 >= 0.85
    assert [round(h["lr"], 6) for h in result.history][0] == 3e-3  # cosine schedule starts at lr
    assert result.history[-1]["lr"] < 3e-3


def test_early_stopping_restores_the_best_epochs_weights(train_set, val_set, monkeypatch):
    model = build_classifier("smallcnn", 2, image_size=IMAGE_SIZE, seed=0)
    scripted = iter([0.5, 0.9, 0.6, 0.7, 1.0])
    snapshots = []

    def fake_validate(model, *args):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        f1 = next(scripted)
        return {"val_loss": 0.0, "val_accuracy": 0.0, "val_macro_f1": f1, "val_selection": f1}

    monkeypatch.setattr(train_module, "_validate", fake_validate)
    config = TrainConfig(epochs=5, batch_size=8, patience=2, mode="finetune")
    result = train_classifier(model, train_set, val_set, config, progress=False)
    assert (result.best_epoch, result.best_val_macro_f1, result.stopped_early) == (2, 0.9, True)
    assert len(result.history) == 4
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, snapshots[1][name]), name
    assert not all(torch.equal(v, snapshots[1][k]) for k, v in snapshots[-1].items())


def test_predict_gives_probabilities_and_embeddings(trained, val_set):
    model, _ = trained
    probabilities, embeddings = predict(model, val_set.images, batch_size=3)
    assert probabilities.shape == (8, 2) and embeddings.shape == (8, 512)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(DataError, match="no images"):
        predict(model, [])


def test_bad_inputs(train_set, val_set):
    empty = LabelledSamples([], np.zeros(0, np.int64), train_set.class_names, "defect_type")
    with pytest.raises(DataError, match="validation set is empty"):
        train_classifier(attention(), train_set, empty, HEAD, progress=False)
    three = labelled(coloured_samples(6, classes=("red", "blue", "green")), ("red", "blue", "green"))
    with pytest.raises(ConfigError, match="3 classes but the model predicts 2"):
        train_classifier(attention(), three, three, HEAD, progress=False)
    with pytest.raises(ConfigError, match="mode 'finetune'"):
        small = build_classifier("smallcnn", 2, image_size=IMAGE_SIZE)
        train_classifier(small, train_set, val_set, HEAD, progress=False)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"loss": "hinge"}, "focal, ce"),
        ({"mode": "full"}, "head, finetune"),
        ({"epochs": 0}, "epochs"),
        ({"lr": 0.0}, "lr"),
    ],
)
def test_config_is_checked(options, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**options)
