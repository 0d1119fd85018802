"""Training: the trainer (train.py), its config section (train_config.py), tf.distribute
(distribute.py), the run folder it writes (workdir.py) and TensorBoard's projector (projector.py)."""
