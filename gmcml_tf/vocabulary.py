"""The model vocabulary, defined once and free of TensorFlow (the config validates against it,
the models build from it, the samplers and trainer size batches with it)."""

SET_SIZE = 5  # a multi-triplet set: reference, positive, 3 negatives (docs/method.md §4)
RECONS = ("vc", "fcn", "deconvnet", "none")              # reconstruction nets; none = ZigzagNet alone
CLASSIFIER_INPUTS = ("concat", "rgb", "gate")   # [O, M'] | O | O weighted by M''s silhouette
CLASSIFIERS = ("zigzagnet", "squeezenet", "alexnet_small")
NOISE_RATIOS_FROM = ("probe", "training_pass")  # whose M' gives v of eq. (9) (docs/method.md §5)
