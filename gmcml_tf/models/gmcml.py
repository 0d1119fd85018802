"""GM-CML: reconstruction net + classifier trained together (paper §VI, eq. 8-12; docs/method.md §6).

Training computes cls(ren(map(noi(O))), noi'(O)) and the loss of eq. (11):

    L_total = w_enc L_enc (eq. 12) + w_gen L_gen + w_pair L_pair (eq. 5)
              + w_tri sum_k L_tri (eq. 6) + w_softmax L_s

in one `tf.GradientTape` step, so the classifier's losses reach the reconstruction net
through M' ("coordinate" training). Inference computes cls(ren(map(O)), O) on clean O.

Coupled adaptive noise (eq. 8-10) is read off the current batch's M', as
v = Var(M') / (Var(M) + m_noise), giving R_rec and R_cls (eq. 9); the reconstruction net
sees noi(O) = R_rec Ran + (1 - R_rec) O and the classifier noi'(O) with R_cls (eq. 8).
Where M' comes from is ``noise_ratios_from``:
- "probe": a gradient-free extra pass of the reconstruction net on the clean batch, before
  the training pass (the paper's reading; costs a third of the coder's work).
- "training_pass": the training pass's own M' (of noi(O)) gives v, hence R_cls for this
  batch; R_rec, needed before that pass, uses the previous step's v. No extra pass. The
  metric noise/variance_ratio_pass (v of the training pass's M') is logged in both modes,
  so a probe run shows how far the two readings are apart.

Ablations (docs/method.md §7) are constructor arguments: ``recon`` "vc" | "fcn" | "deconvnet" |
"none"; ``classifier`` "zigzagnet" | "squeezenet" | "alexnet_small"; ``classifier_input``
"concat" (6 channels [O, M']) | "rgb" | "gate" (O weighted by M''s silhouette, beyond the
paper); ``recon_skips`` (beyond the paper: U-Net skips in the coder); ``stop_recon_gradient`` (the "VC" ablation: M' is
a constant for the classifier's losses); ``noise`` False (the "GM-ML" ablation).
"""
from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from gmcml_tf import losses as L
from gmcml_tf.models.baselines import AlexNetSmall, ConvCoder, SqueezeNet
from gmcml_tf.models.variational_coder import VariationalCoder, _pair
from gmcml_tf.models.zigzagnet import ZigzagNet
from gmcml_tf.noise import (ALPHA, BETA, M_NOISE, apply_noise, noise_ratios, ratios_from_variance,
                            variance_ratio)
from gmcml_tf.vocabulary import CLASSIFIER_INPUTS, CLASSIFIERS, NOISE_RATIOS_FROM, RECONS, SET_SIZE
from tfrecords_tools.classes import MASK_SHADING_FLOOR

_PACKAGE = "gmcml_tf"
LOSS_TERMS = ("enc", "gen", "pair", "tri", "softmax")
GATE_FLOOR = 0.5   # classifier_input "gate": O's weight where M' is black
RATIO_NAMES = ("r_rec", "r_cls", "variance_ratio", "variance_ratio_pass")
METRIC_NAMES = tuple(f"loss/{t}" for t in LOSS_TERMS) + (
    "loss/total", "accuracy") + tuple(f"noise/{n}" for n in RATIO_NAMES)
CLASSIFIER_CLASSES = {"zigzagnet": ZigzagNet, "squeezenet": SqueezeNet, "alexnet_small": AlexNetSmall}
assert tuple(CLASSIFIER_CLASSES) == CLASSIFIERS


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GMCML(keras.Model):
    """The joined GM-CML model (eq. 11). Call on O (B, H, W, 3) or a dict with "image".

    Returns {"logits", "descriptor", "reconstruction"} (no "reconstruction" when
    ``recon="none"``). `train_step` expects dicts with "image" (O), "mask" (M),
    "label"; with ``triplet_batches`` set, rows are set-major multi-triplet sets of 5.
    """

    def __init__(self, image_size: int | Sequence[int] = 112, num_classes: int = 12,
                 recon: str = "vc", classifier: str = "zigzagnet",
                 classifier_input: str = "concat",
                 recon_filters: Sequence[int] = (64, 64, 64, 128, 128), latent_dim: int = 32,
                 hidden_dim: int = 128, recon_dropout: float = 0.2,
                 classifier_dropout: float = 0.5, upsample: bool = False,
                 stop_recon_gradient: bool = False, loss_weights: dict | None = None,
                 triplet_margin: float = 1.0, noise: bool = True, noise_alpha: float = ALPHA,
                 noise_beta: float = BETA, m_noise: float = M_NOISE,
                 noise_ratios_from: str = "probe", seed: int | None = None,
                 bn_momentum: float = 0.99, kl_warmup_steps: int = 0, free_bits: float = 0.0,
                 label_smoothing: float = 0.0, recon_skips: bool = False, **kwargs):
        super().__init__(**kwargs)
        if recon not in RECONS:
            raise ValueError(f"recon must be one of {RECONS}, got {recon!r}")
        if classifier not in CLASSIFIERS:
            raise ValueError(f"classifier must be one of {CLASSIFIERS}, got {classifier!r}")
        if classifier_input not in CLASSIFIER_INPUTS:
            raise ValueError(f"classifier_input must be one of {CLASSIFIER_INPUTS}, got {classifier_input!r}")
        if noise_ratios_from not in NOISE_RATIOS_FROM:
            raise ValueError(f"noise_ratios_from must be one of {NOISE_RATIOS_FROM}, got {noise_ratios_from!r}")
        if classifier_input != "rgb" and recon == "none":
            raise ValueError(f"classifier_input={classifier_input!r} needs a reconstruction net (recon != 'none')")
        size = _pair(image_size)
        self.image_size = size
        self.num_classes = int(num_classes)
        self.recon, self.classifier, self.classifier_input = recon, classifier, classifier_input
        self.recon_filters = [int(f) for f in recon_filters]
        self.latent_dim, self.hidden_dim = int(latent_dim), int(hidden_dim)
        self.recon_dropout, self.classifier_dropout = float(recon_dropout), float(classifier_dropout)
        self.upsample, self.stop_recon_gradient = bool(upsample), bool(stop_recon_gradient)
        self.recon_skips = bool(recon_skips)
        self.loss_weights = {t: float((loss_weights or {}).get(t, 1.0)) for t in LOSS_TERMS}
        self.triplet_margin = float(triplet_margin)
        self.noise = bool(noise)
        self.noise_alpha, self.noise_beta, self.m_noise = float(noise_alpha), float(noise_beta), float(m_noise)
        self.noise_ratios_from = noise_ratios_from
        # The previous step's v for "training_pass" (R_rec is needed before the pass that
        # measures v). A plain tf.Variable, not a Keras weight: it is a schedule's state, not
        # a parameter, and saved weights keep their layout. ON_READ: one per replica.
        self._previous_v = tf.Variable(0.0, trainable=False, name="previous_variance_ratio",
                                       synchronization=tf.VariableSynchronization.ON_READ,
                                       aggregation=tf.VariableAggregation.MEAN)
        self.seed = seed
        # Transfer aids beyond the paper (training only): KL warm-up and free bits against
        # posterior collapse (L_enc, eq. 12), label smoothing of L_s.
        self.kl_warmup_steps, self.free_bits = int(kl_warmup_steps), float(free_bits)
        self.label_smoothing = float(label_smoothing)
        # Set by the trainer per stage (not config): batches are multi-triplet sets.
        self.triplet_batches = False

        if recon == "vc":
            self.recon_net = VariationalCoder(size, self.recon_filters, self.latent_dim,
                                              self.hidden_dim, self.recon_dropout, seed=seed,
                                              skips=self.recon_skips, name="recon")
        elif recon in ("fcn", "deconvnet"):
            self.recon_net = ConvCoder(size, recon, self.recon_filters, self.hidden_dim,
                                       self.recon_dropout, name="recon")
        else:
            self.recon_net = None
        channels = 6 if classifier_input == "concat" else 3   # rgb and gate: O's 3
        self.classifier_net = CLASSIFIER_CLASSES[classifier](
            image_size=size, input_channels=channels, num_classes=self.num_classes,
            upsample=self.upsample, dropout=self.classifier_dropout, name="classifier")
        # Batch-norm momentum of both nets: Keras' 0.99 averages over ~100s of steps; short
        # CPU runs need ~0.9 or the moving statistics used at inference lag the weights.
        self.bn_momentum = float(bn_momentum)
        for net in (self.recon_net, self.classifier_net):
            for layer in (net._flatten_layers() if net is not None else []):
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.momentum = self.bn_momentum
        self.noise_seed = keras.random.SeedGenerator(seed, name="noise_seed")
        self.trackers = {n: keras.metrics.Mean(name=n) for n in METRIC_NAMES if n != "accuracy"}
        self.trackers["accuracy"] = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.built = True  # both sub-nets are functional models, built on construction

    # --- configuration -----------------------------------------------------------
    def set_stage(self, loss_weights: dict, triplet_batches: bool) -> None:
        """Switch loss terms (python floats: a zero weight skips the term) and batch kind."""
        unknown = set(loss_weights) - set(LOSS_TERMS)
        if unknown:
            raise ValueError(f"unknown loss terms {sorted(unknown)}; known: {LOSS_TERMS}")
        self.loss_weights = {t: float(loss_weights.get(t, 0.0)) for t in LOSS_TERMS}
        self.triplet_batches = bool(triplet_batches)
        self.train_function = self.test_function = self.predict_function = None

    @property
    def metrics(self):
        return [self.trackers[n] for n in METRIC_NAMES]

    # --- forward passes ------------------------------------------------------------
    def call(self, inputs, training=False):
        """Inference: cls(ren(map(O)), O) on clean O (docs/method.md §6)."""
        o = inputs["image"] if isinstance(inputs, dict) else inputs
        out = {}
        if self.recon_net is not None:
            out["reconstruction"] = self.recon_net(o, training=training)["reconstruction"]
        x = self._classifier_input(o, out.get("reconstruction"))
        cls = self.classifier_net(x, training=training)
        return {"logits": cls["logits"], "descriptor": cls["descriptor"], **out}

    def _classifier_input(self, o, m_pred):
        """concat: [O, M'] (6 channels, the paper's); rgb: O; gate: O weighted by M''s
        silhouette, ~1 on the object and GATE_FLOOR where M' is black (the background stays
        visible as context), so the classifier's gradient asks the coder for a sharp outline."""
        if self.classifier_input == "rgb":
            return o
        o = tf.cast(o, tf.float32)
        if self.classifier_input == "concat":
            return tf.concat([o, m_pred], axis=-1)
        # M''s object pixels have a largest channel >= MASK_SHADING_FLOOR: tanh(max / half of it)
        # is 0.96 there and 0 on black, smooth so that the gradient reaches the coder on the
        # object too (a clipped ramp would stop it there)
        silhouette = tf.tanh(tf.reduce_max(m_pred, axis=-1, keepdims=True) / (MASK_SHADING_FLOOR / 2))
        return o * (GATE_FLOOR + (1.0 - GATE_FLOOR) * silhouette)

    def compute_terms(self, data, training: bool):
        """Every loss term of eq. (11) (float32 scalars), the outputs, and the noise ratios."""
        o = tf.cast(data["image"], tf.float32)
        m = tf.cast(data["mask"], tf.float32)
        y = tf.cast(data["label"], tf.int32)
        zero = tf.zeros([], tf.float32)
        r_rec = r_cls = v = v_pass = zero
        o_rec = o_cls = o
        noisy = training and self.noise and self.recon_net is not None
        if noisy and self.noise_ratios_from == "probe":
            # Probe pass on the clean batch: the ratios are read off the current M' (eq. 9).
            probe = tf.stop_gradient(self.recon_net(o, training=True)["reconstruction"])
            r_rec, r_cls, v = noise_ratios(probe, m, self.noise_alpha, self.noise_beta, self.m_noise)
        elif noisy:
            r_rec, _ = ratios_from_variance(self._previous_v, self.noise_alpha, self.noise_beta)  # last step's v
        if noisy:
            o_rec = apply_noise(o, r_rec, seed=self.noise_seed)   # eq. (8), n_rec
        terms = dict.fromkeys(LOSS_TERMS, zero)
        enc_objective = None  # what the optimiser sees of L_enc, when it is not L_enc itself
        out = {}
        if self.recon_net is not None:
            rec = self.recon_net(o_rec, training=training)
            m_pred = out["reconstruction"] = rec["reconstruction"]
            if "mu" in rec:
                terms["enc"] = tf.reduce_mean(L.kl_divergence(rec["mu"], rec["log_var"]))
                if training and self.free_bits > 0:
                    enc_objective = L.free_bits_kl(rec["mu"], rec["log_var"], self.free_bits)
            terms["gen"] = tf.reduce_mean(L.reconstruction_loss(m, m_pred))
            v_pass = variance_ratio(tf.stop_gradient(m_pred), m, self.m_noise)
            if not noisy:
                v = v_pass
            elif self.noise_ratios_from == "training_pass":
                v = v_pass
                _, r_cls = ratios_from_variance(v, self.noise_alpha, self.noise_beta)
                self._previous_v.assign(v)
            if self.stop_recon_gradient:  # "VC" ablation: no classifier gradient into ren/map
                m_pred = tf.stop_gradient(m_pred)
        if noisy:
            o_cls = apply_noise(o, r_cls, seed=self.noise_seed)   # eq. (8), n_cls
        x = self._classifier_input(o_cls, m_pred if self.recon_net is not None else None)
        cls = self.classifier_net(x, training=training)
        out.update(logits=cls["logits"], descriptor=cls["descriptor"])
        terms["softmax"] = tf.reduce_mean(L.softmax_cross_entropy(
            y, cls["logits"], self.label_smoothing if training else 0.0))
        if training and self.triplet_batches:
            f = tf.reshape(tf.cast(cls["descriptor"], tf.float32), [-1, SET_SIZE, cls["descriptor"].shape[-1]])
            d_ij = L.squared_distance(f[:, 0], f[:, 1])
            terms["pair"] = tf.reduce_mean(L.pair_loss(d_ij))                       # eq. (5)
            terms["tri"] = tf.reduce_mean(L.multi_triplet_loss(                     # eq. (6)
                f[:, 0], f[:, 1], f[:, 2:], self.triplet_margin, include_pair=False))
        total = zero
        for t in LOSS_TERMS:
            if self.loss_weights[t] != 0.0:
                value = terms[t]
                if t == "enc" and training:
                    value = value if enc_objective is None else enc_objective
                    if self.kl_warmup_steps > 0:  # weight 0 -> 1 linearly over the first steps
                        step = tf.cast(self.optimizer.iterations, tf.float32)
                        value = value * tf.minimum(1.0, step / float(self.kl_warmup_steps))
                total = total + self.loss_weights[t] * value
        terms["total"] = total
        return terms, out, (r_rec, r_cls, v, v_pass)

    def _update_trackers(self, terms, out, ratios, labels):
        for t, value in terms.items():
            self.trackers[f"loss/{t}"].update_state(value)
        self.trackers["accuracy"].update_state(labels, out["logits"])
        for name, value in zip(RATIO_NAMES, ratios):
            self.trackers[f"noise/{name}"].update_state(value)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        """One coordinate-training step on eq. (11): all terms, one tape, one update."""
        with tf.GradientTape() as tape:
            terms, out, ratios = self.compute_terms(data, training=True)
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(terms["total"] / replicas)
        variables = self.trainable_variables
        grads = tape.gradient(scaled, variables)
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        self.optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
        return self._update_trackers(terms, out, ratios, data["label"])

    def test_step(self, data):
        terms, out, ratios = self.compute_terms(data, training=False)
        return self._update_trackers(terms, out, ratios, data["label"])

    # --- sizes and serialisation --------------------------------------------------------
    def size_mb(self) -> dict:
        """Weights as float32 MiB: {"model_mb", "recon_mb", "classifier_mb"}."""
        mb = lambda m: 0.0 if m is None else m.count_params() * 4 / 2**20  # noqa: E731
        r, c = mb(self.recon_net), mb(self.classifier_net)
        return {"model_mb": round(r + c, 3), "recon_mb": round(r, 3), "classifier_mb": round(c, 3)}

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "image_size": list(self.image_size), "num_classes": self.num_classes,
                "recon": self.recon, "classifier": self.classifier,
                "classifier_input": self.classifier_input, "recon_filters": list(self.recon_filters),
                "latent_dim": self.latent_dim, "hidden_dim": self.hidden_dim,
                "recon_dropout": self.recon_dropout, "classifier_dropout": self.classifier_dropout,
                "upsample": self.upsample, "stop_recon_gradient": self.stop_recon_gradient,
                "loss_weights": dict(self.loss_weights), "triplet_margin": self.triplet_margin,
                "noise": self.noise, "noise_alpha": self.noise_alpha,
                "noise_beta": self.noise_beta, "m_noise": self.m_noise,
                "noise_ratios_from": self.noise_ratios_from, "seed": self.seed,
                "bn_momentum": self.bn_momentum, "kl_warmup_steps": self.kl_warmup_steps,
                "free_bits": self.free_bits, "label_smoothing": self.label_smoothing,
                "recon_skips": self.recon_skips}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
