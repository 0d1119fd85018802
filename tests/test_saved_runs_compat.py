"""Runs saved by earlier versions still load: the config.yaml and the model's architecture
(`config.json` inside model.keras) of a smoke run written before gmcml_tf's modules moved into
training/, evaluation/, serving/ and bench/ (tests/fixtures/run_before_0.2; the 19 MB of
weights are left out: they are keyed by layer paths, which the move did not touch)."""
import json

from conftest import REPO

FIXTURE = REPO / "tests" / "fixtures" / "run_before_0.2"


def test_an_old_run_config_and_model_architecture_load_with_todays_code():
    import keras

    import gmcml_tf.models.gmcml  # noqa: F401  (registers the serialisable classes)
    from gmcml_tf.config import load_config
    from gmcml_tf.training.train import build_model
    cfg = load_config(FIXTURE / "config.yaml")
    assert cfg.model.recon == "vc" and cfg.model.image_size == 32
    old = keras.saving.deserialize_keras_object(json.loads((FIXTURE / "model_config.json").read_text()))
    fresh = build_model(cfg)
    assert type(old) is type(fresh)
    assert old.count_params() == fresh.count_params()
    assert [w.path for w in old.weights] == [w.path for w in fresh.weights]
