"""Self-training on unlabelled photos, with the renders' labels beside them (docs/adaptation.md).

Each round (a CBST round, Zou et al. 2018, with SHOT's pseudo-labels, Liang et al. 2020):
1. the current model predicts every photo the way `evaluate` does (all fittings, mirrored);
2. pseudo-labels: the classifier's probabilities refined by clustering in descriptor space,
   and in each class the most confident share of its photos kept (pseudo_labels.py); the
   share grows from `select_from` to `select_to` over the rounds; of those, only the photos
   whose clustered label is also the classifier's argmax (`agree`);
3. `steps_per_round` steps, each on one batch of renders with their labels (the run's own
   loss, eq. 11: the coder keeps learning M and the classifier keeps its classes) plus one
   batch of selected photos under strong augmentation (crop, rotation, colour, blur, noise,
   JPEG, erasing) with their pseudo-labels: the weak-view prediction teaches the strong view
   (FixMatch's consistency, Sohn et al. 2020). A target is 0.9 on the pseudo-label and 0.1
   over the other classes by the unadapted model's probabilities (pseudo_labels.targets).
   Both nets learn: the photo loss reaches the coder through M' as the classifier's losses
   do in training (paper §VI);
4. the batch-norm statistics are re-estimated on the photos (batchnorm.py).
A round whose predictions collapse onto one class (pseudo_labels.collapse, relative to the
unadapted model) is undone and adaptation stops there.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf


@dataclasses.dataclass
class SelfTrainingConfig:
    rounds: int = 4
    steps_per_round: int | None = None   # None: for_photos() (about 4.5 passes over the photos, 10-100)
    photo_batch: int = 32
    render_batch: int = 32
    learning_rate: float = 5e-4
    weight_decay: float = 5e-4
    select_from: float = 0.5      # share of each class's photos selected in the first round
    select_to: float = 0.9        # ... and in the last
    render_weight: float = 1.0    # 0: photos only (also when the run's renders are not at hand)
    min_share: float = 0.005      # a class needs this share of the predictions for a centroid (docs/adaptation.md)
    cluster_temperature: float = 0.0   # 0: nearest centroid (SHOT); T > 0: log p + cosine / T (pseudo_labels.py)
    label_smoothing: float = 0.1
    smoothing_to: str = "teacher"   # the smoothing mass by the unadapted model's probabilities; or "uniform"
    cluster: bool = True          # refine the classifier's labels by clustering (SHOT); False: argmax
    agree: bool = True            # learn only from photos whose clustered label is the classifier's argmax
    reestimate_bn: bool = True    # batch-norm statistics from the photos after each round

    def for_photos(self, n: int) -> "SelfTrainingConfig":
        """The settings with the steps a round resolved for n photos: ceil(n / 7) steps of 32
        (about 4.5 passes over the photos), between 10 and 100. A fixed 100 steps on 100 photos
        drilled their pseudo-labels in and cost 6 points on half B of real_dev (docs/adaptation.md)."""
        steps = self.steps_per_round or min(100, max(10, math.ceil(n / 7)))
        return dataclasses.replace(self, steps_per_round=steps)

    def fraction(self, r: int) -> float:
        return self.select_from + (self.select_to - self.select_from) * (r / max(1, self.rounds - 1))


def predict_all(model, views: np.ndarray, flip: bool, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (N, K) and first-view descriptors (N, D) of uint8 photos (N, [V,] S, S, 3)."""
    from gmcml_tf.inference import predict

    @tf.function(reduce_retracing=True)
    def infer(x):
        y = predict(model, tf.cast(x, tf.float32) / 255.0, flip)
        return tf.nn.softmax(y["logits"]), tf.cast(y["descriptor"], tf.float32)

    probs, feats = [], []
    for i in range(0, len(views), batch):
        p, f = infer(tf.constant(views[i:i + batch]))
        probs.append(p.numpy())
        feats.append(f.numpy())
    return np.concatenate(probs), np.concatenate(feats)


def reestimate_batch_norm(model, views: np.ndarray, batch: int = 64) -> int:
    from gmcml_tf.adaptation.batchnorm import adapt_batch_norm
    flat = views.reshape(-1, *views.shape[-3:])
    return adapt_batch_norm(model, (tf.cast(flat[i:i + batch], tf.float32) / 255.0
                                    for i in range(0, len(flat), batch)))


def learning_rate(cfg: SelfTrainingConfig, step: int) -> float:
    """Linear warm-up over the first 5 % of all steps, then cosine to 0."""
    total = cfg.rounds * cfg.steps_per_round
    warm = max(1, int(0.05 * total))
    if step < warm:
        return cfg.learning_rate * (step + 1) / warm
    return cfg.learning_rate * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))


def make_step(model, optimizer, augment_cfg, cfg: SelfTrainingConfig, with_renders: bool):
    """The compiled step: (renders, photos uint8, soft pseudo-label targets (B, K), seed) -> losses."""
    from gmcml_tf import losses as L
    from gmcml_tf.data.augment import photo_augment

    @tf.function
    def step(renders, photos, targets, seed):
        x = tf.cast(photos, tf.float32) / 255.0
        if augment_cfg is not None:
            x = photo_augment(x, seed, augment_cfg)
        with tf.GradientTape() as tape:
            render_loss = tf.zeros([])
            if with_renders:
                terms, _, _ = model.compute_terms(renders, training=True)
                render_loss = terms["total"]
            logits = tf.cast(model(x, training=True)["logits"], tf.float32)
            photo_loss = tf.reduce_mean(L.softmax_cross_entropy(targets, logits))
            total = cfg.render_weight * render_loss + photo_loss
        variables = model.trainable_variables
        grads = tape.gradient(total, variables)
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
        agree = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), tf.argmax(targets, 1)), tf.float32))
        return render_loss, photo_loss, agree
    return step
