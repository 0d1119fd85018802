"""The `model:` and `train:` sections of the experiment config (typed dataclasses).

`model:` builds `gmcml_tf.models.gmcml.GMCML` (the ablations of docs/method.md §7 are values
here); `train:` holds the staged schedule of paper §V-C, the optimiser (Adam 1e-4,
docs/method.md §2), the coupled adaptive noise of eq. (8-10), precision and strategy.
"""
from __future__ import annotations

import dataclasses

from tfrecords_tools.configlib import SEED_MAX, ConfigError, check_range
from gmcml_tf.vocabulary import CLASSIFIER_INPUTS, CLASSIFIERS, NOISE_RATIOS_FROM, RECONS

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
STRATEGIES = ("default", "mirrored", "multi_worker")
OPTIMIZERS = ("adam", "adamw")
LR_SCHEDULES = ("constant", "cosine")


def _one_of(key: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}: {value!r} must be one of {', '.join(map(str, allowed))}")


@dataclasses.dataclass
class ModelConfig:
    recon: str = "vc"                     # vc | fcn | deconvnet | none (docs/method.md §2, §7)
    classifier: str = "zigzagnet"         # zigzagnet | squeezenet | alexnet_small
    classifier_input: str = "concat"      # concat: 6-ch [O, M'] | rgb: O alone | gate: O weighted by M'
    image_size: int = 64                  # input of both nets (data resized to this)
    num_classes: int | None = None        # None: the class count of the shards (fit resolves it)
    recon_filters: list[int] = dataclasses.field(default_factory=lambda: [64, 64, 64, 128, 128])
    latent_dim: int = 32
    hidden_dim: int = 128
    recon_dropout: float = 0.2            # authors: keep 0.8
    classifier_dropout: float = 0.5
    upsample: bool = False                # learned 2x upsampling before the classifier (112 -> 224)
    stop_recon_gradient: bool = False     # "VC" ablation: classifier losses stop at M'
    recon_skips: bool = False             # vc: the generator also sees the encoder's maps (U-Net skips)
    triplet_margin: float = 1.0           # m_tri of eq. (6)
    bn_momentum: float = 0.99             # batch norm moving averages; ~0.9 for short runs

    def validate(self, p: str = "model") -> None:
        _one_of(f"{p}.recon", self.recon, RECONS)
        _one_of(f"{p}.classifier", self.classifier, CLASSIFIERS)
        _one_of(f"{p}.classifier_input", self.classifier_input, CLASSIFIER_INPUTS)
        if self.recon_skips and self.recon != "vc":
            raise ConfigError(f"{p}.recon_skips: only for recon: vc (fcn has skips already; "
                              f"{p}.recon is {self.recon!r})")
        if self.classifier_input != "rgb" and self.recon == "none":
            raise ConfigError(f"{p}.classifier_input: {self.classifier_input!r} needs a reconstruction net "
                              f"({p}.recon is 'none'; use classifier_input: rgb)")
        check_range(f"{p}.image_size", self.image_size, 16, 1024)
        if self.num_classes is not None:
            check_range(f"{p}.num_classes", self.num_classes, 2)
        if not self.recon_filters or min(self.recon_filters) < 1:
            raise ConfigError(f"{p}.recon_filters: need a non-empty list of positive widths")
        check_range(f"{p}.latent_dim", self.latent_dim, 1)
        check_range(f"{p}.hidden_dim", self.hidden_dim, 1)
        check_range(f"{p}.recon_dropout", self.recon_dropout, 0.0, 0.95)
        check_range(f"{p}.classifier_dropout", self.classifier_dropout, 0.0, 0.95)
        check_range(f"{p}.bn_momentum", self.bn_momentum, 0.0, 0.9999)
        if self.triplet_margin <= 0:
            raise ConfigError(f"{p}.triplet_margin: {self.triplet_margin} must be > 0 (it divides in eq. 6)")


@dataclasses.dataclass
class NoiseConfig:
    enabled: bool = True     # false: the "GM-ML" ablation (YAML reads a key `on` as True)
    alpha: float = 0.25      # eq. (9)
    beta: float = 2.0        # eq. (9)
    m_noise: float = 1e-3    # eq. (9) denominator guard
    # Whose M' gives v (eq. 9): "probe", an extra clean pass; "training_pass", the training
    # pass's own M' (R_rec from the previous step's v). README "Performance" has the cost of each.
    ratios_from: str = "probe"

    def validate(self, p: str) -> None:
        if self.ratios_from not in NOISE_RATIOS_FROM:
            raise ConfigError(f"{p}.ratios_from: expected one of {', '.join(NOISE_RATIOS_FROM)}, "
                              f"got {self.ratios_from!r}")
        check_range(f"{p}.alpha", self.alpha, 0.0)
        check_range(f"{p}.beta", self.beta, 0.0)
        if self.m_noise <= 0:
            raise ConfigError(f"{p}.m_noise: {self.m_noise} must be > 0")


@dataclasses.dataclass
class AugmentConfig:
    """Training augmentation (gmcml_tf.data.augment; README "The real-photo recipe")."""
    enabled: bool = True
    crop_area: list[float] = dataclasses.field(default_factory=lambda: [0.6, 1.0])  # of the image
    crop_aspect: list[float] = dataclasses.field(default_factory=lambda: [0.75, 1.333])
    rotation_deg: float = 10.0
    flip: bool = True
    brightness: float = 0.2          # delta in [-b, b]
    contrast: list[float] = dataclasses.field(default_factory=lambda: [0.7, 1.3])
    saturation: list[float] = dataclasses.field(default_factory=lambda: [0.6, 1.4])
    hue: float = 0.05                # fraction of a turn, in [-h, h]
    grayscale: float = 0.15          # probability
    blur: float = 0.2                # probability of a Gaussian blur (sigma 0.5-1.5 px)
    noise: float = 0.3               # probability of Gaussian sensor noise
    noise_std: float = 0.04          # its largest standard deviation
    jpeg: float = 0.3                # probability of JPEG re-encoding at quality 30-95
    erase: float = 0.25              # probability of one erased rectangle (2-15 % of the area)
    edge_blur: float = 0.5           # probability of a soft object edge (O blurred near alpha's edge)
    object_crop: float = 0.0         # probability of a crop around the object (alpha's box), as photos frame it
    object_fill: list[float] = dataclasses.field(default_factory=lambda: [0.75, 1.0])  # box side / crop side
    object_aspect: float = 2.0       # the object crop's width/height stays within [1/a, a]
    plain_background: float = 0.0    # probability of a flat-colour backdrop behind the object

    def validate(self, p: str) -> None:
        for name in ("crop_area", "crop_aspect", "contrast", "saturation", "object_fill"):
            lo_hi = getattr(self, name)
            if len(lo_hi) != 2 or not 0 < lo_hi[0] <= lo_hi[1]:
                raise ConfigError(f"{p}.{name}: expected [low, high] with 0 < low <= high, got {lo_hi}")
        if self.crop_area[1] > 1:
            raise ConfigError(f"{p}.crop_area: at most 1 (a crop inside the render), got {self.crop_area}")
        if self.object_fill[1] > 1:
            raise ConfigError(f"{p}.object_fill: at most 1 (the object inside the crop), got {self.object_fill}")
        check_range(f"{p}.object_aspect", self.object_aspect, 1.0, 10.0)
        check_range(f"{p}.rotation_deg", self.rotation_deg, 0.0, 45.0)
        check_range(f"{p}.brightness", self.brightness, 0.0, 1.0)
        check_range(f"{p}.hue", self.hue, 0.0, 0.5)
        check_range(f"{p}.noise_std", self.noise_std, 0.0, 1.0)
        for name in ("grayscale", "blur", "noise", "jpeg", "erase", "edge_blur", "object_crop",
                     "plain_background"):
            check_range(f"{p}.{name}", getattr(self, name), 0.0, 1.0)


@dataclasses.dataclass
class KLConfig:
    """Against posterior collapse of the coder (departures from eq. 12, docs in README)."""
    warmup_steps: int = 0     # the weight of L_enc rises 0 -> 1 linearly over these steps
    free_bits: float = 0.0    # nats per latent dimension that cost nothing (0: plain eq. 12)

    def validate(self, p: str) -> None:
        check_range(f"{p}.warmup_steps", self.warmup_steps, 0)
        check_range(f"{p}.free_bits", self.free_bits, 0.0, 10.0)


@dataclasses.dataclass
class LossWeights:
    """Weights of the terms of eq. (11); 0 switches a term off."""
    enc: float = 1.0
    gen: float = 1.0
    pair: float = 1.0
    tri: float = 1.0
    softmax: float = 0.0

    def validate(self, p: str) -> None:
        for f in dataclasses.fields(self):
            check_range(f"{p}.{f.name}", getattr(self, f.name), 0.0)


@dataclasses.dataclass
class StageConfig:
    name: str = "stage"
    epochs: int = 1
    steps_per_epoch: int | None = None     # None: one pass over the training split
    triplets: bool = True                  # batches of multi-triplet sets of 5 (docs/method.md §4)
    background: bool = True                # False: renders over black (paper stage 1)
    close_only: bool = False               # close-shot renders only (softmax fine-tune)
    learning_rate: float | None = None     # None: train.learning_rate
    batch_size: int | None = None          # None: train.batch_size
    losses: LossWeights = dataclasses.field(default_factory=LossWeights)

    def validate(self, p: str) -> None:
        check_range(f"{p}.epochs", self.epochs, 0)
        if self.steps_per_epoch is not None:
            check_range(f"{p}.steps_per_epoch", self.steps_per_epoch, 1)
        if self.batch_size is not None:
            check_range(f"{p}.batch_size", self.batch_size, 1)
        if self.learning_rate is not None and self.learning_rate <= 0:
            raise ConfigError(f"{p}.learning_rate: {self.learning_rate} must be > 0")
        w = self.losses
        if (w.pair or w.tri) and not self.triplets:
            raise ConfigError(f"{p}.losses: pair/tri need multi-triplet batches ({p}.triplets: true)")
        if not any(dataclasses.astuple(w)):
            raise ConfigError(f"{p}.losses: every term is 0; switch at least one on")


def paper_stages() -> list[StageConfig]:
    """Paper §V-C: triplet+pair without background, then with, then softmax on close shots."""
    return [
        StageConfig(name="triplet_plain", background=False),
        StageConfig(name="triplet_background", background=True),
        StageConfig(name="softmax_close", triplets=False, close_only=True,
                    losses=LossWeights(pair=0.0, tri=0.0, softmax=1.0)),
    ]


@dataclasses.dataclass
class TrainConfig:
    data: str = "data_out/quickstart"      # shards from `gmcml-tf render`
    workdir: str = "runs/gm_cml"
    batch_size: int = 16                   # images, or multi-triplet sets in triplet stages
    learning_rate: float = 1e-4            # Adam (docs/method.md §2)
    precision: str = "float32"             # float32 | mixed_bfloat16 | mixed_float16
    strategy: str = "default"              # default | mirrored | multi_worker
    seed: int = 0
    deterministic: bool = False            # GPU: deterministic kernels (slower); CPU runs are anyway
    shuffle_buffer: int = 2048
    cache: bool = False
    evaluate: bool = True                  # softmax accuracy on `val` after each stage
    summary_every: int = 10                # steps between TensorBoard scalars
    image_every: int = 200                 # steps between O | M | M' image grids (paper Fig. 9)
    keep_checkpoints: int = 3
    skip_corrupt: bool = False             # leave out corrupt shards (reported) instead of stopping
    optimizer: str = "adam"                # adam (the authors') | adamw (decoupled weight decay)
    weight_decay: float = 5e-4             # adamw only
    lr_schedule: str = "constant"          # per stage: constant | cosine (decay to 0)
    warmup_fraction: float = 0.0           # per stage: linear warm-up over this share of steps
    label_smoothing: float = 0.0           # of L_s's targets, training only
    balanced: bool = False                 # every category equally likely per draw
    augment: AugmentConfig = dataclasses.field(
        default_factory=lambda: AugmentConfig(enabled=False))
    kl: KLConfig = dataclasses.field(default_factory=KLConfig)
    noise: NoiseConfig = dataclasses.field(default_factory=NoiseConfig)
    stages: list[StageConfig] = dataclasses.field(default_factory=paper_stages)

    def validate(self, p: str = "train") -> None:
        check_range(f"{p}.batch_size", self.batch_size, 1)
        check_range(f"{p}.seed", self.seed, 0, SEED_MAX)
        if self.learning_rate <= 0:
            raise ConfigError(f"{p}.learning_rate: {self.learning_rate} must be > 0")
        _one_of(f"{p}.precision", self.precision, PRECISIONS)
        _one_of(f"{p}.strategy", self.strategy, STRATEGIES)
        check_range(f"{p}.summary_every", self.summary_every, 1)
        check_range(f"{p}.image_every", self.image_every, 1)
        check_range(f"{p}.keep_checkpoints", self.keep_checkpoints, 1)
        if not self.stages:
            raise ConfigError(f"{p}.stages: need at least one stage")
        _one_of(f"{p}.optimizer", self.optimizer, OPTIMIZERS)
        _one_of(f"{p}.lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_range(f"{p}.weight_decay", self.weight_decay, 0.0, 1.0)
        check_range(f"{p}.warmup_fraction", self.warmup_fraction, 0.0, 1.0)
        check_range(f"{p}.label_smoothing", self.label_smoothing, 0.0, 0.5)
