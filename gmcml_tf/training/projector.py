"""Descriptors of rendered val views for TensorBoard's projector (paper Fig. 5 / 11, interactive).

Written at the end of `fit` into `RUN/tensorboard/projector/`: a checkpoint holding the descriptors,
`projector_metadata.tsv` (category, model id per row) and `projector_config.pbtxt`; open the
PROJECTOR tab of `tensorboard --logdir RUN/tensorboard`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf



def write_projector(model, val_batches, logdir: str | Path, class_names, limit: int = 1000) -> int:
    """Descriptors of the first `limit` val images, labelled with `class_names`; returns how
    many were written."""
    from tensorboard.plugins import projector
    logdir = Path(logdir) / "projector"
    descriptors, labels = [], []
    for batch in val_batches:
        out = model(batch["image"], training=False)
        descriptors.append(tf.cast(out["descriptor"], tf.float32).numpy())
        labels.append(np.asarray(batch["label"]))
        if sum(len(d) for d in descriptors) >= limit:
            break
    if not descriptors:
        return 0
    emb = np.concatenate(descriptors)[:limit]
    lab = np.concatenate(labels)[:limit]
    logdir.mkdir(parents=True, exist_ok=True)
    (logdir / "projector_metadata.tsv").write_text(
        "".join(f"{_tsv(class_names[int(i)])}\n" for i in lab), encoding="utf-8")
    variable = tf.Variable(emb, name="descriptors")
    tf.train.Checkpoint(embedding=variable).save(str(logdir / "embedding.ckpt"))
    config = projector.ProjectorConfig()
    e = config.embeddings.add()
    e.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
    e.metadata_path = "projector_metadata.tsv"
    projector.visualize_embeddings(str(logdir), config)
    return len(emb)


def _tsv(name: str) -> str:
    """A class name as one TSV cell (the projector splits on tabs and newlines)."""
    return " ".join(name.split())
