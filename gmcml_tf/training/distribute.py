"""`train.strategy` for `gmcml-tf fit`: default | mirrored | multi_worker (tf.distribute).

- default: no distribution (one device), the datasets as `make_dataset` builds them.
- mirrored: `tf.distribute.MirroredStrategy` over this machine's GPUs, or over its logical
  CPU devices when it has no GPU (tests split the CPU with
  `tf.config.set_logical_device_configuration`).
- multi_worker: `tf.distribute.MultiWorkerMirroredStrategy`; the cluster comes from the
  `TF_CONFIG` environment variable of each process (one per host, same command).

Batch size: under mirrored and multi_worker `train.batch_size` (and a stage's batch_size)
is the batch of ONE replica (one GPU, or one worker on CPU); a step trains on the global
batch = batch_size x replicas (`strategy.num_replicas_in_sync`, = workers x devices per
worker), so the learning rate may need scaling. Triplet batches stay whole sets of 5.

Data: every input pipeline (one per worker) builds the same seeded dataset and keeps
every N-th batch (`ds.shard(num_workers, worker)` on the batched output, AutoShardPolicy
OFF, via `distribute_datasets_from_function`): the workers train on disjoint batches, but
each one also reads and decodes the batches it drops (the DATA-policy cost). Explicit
sharding at the batch level keeps multi-triplet sets intact and works the same for the
in-memory triplet index and the plain record stream. Validation is not sharded: every
worker evaluates the whole val split (the metrics then agree on every worker and no
worker waits on another's short shard).

Outputs: the chief (task type "chief", else worker 0) writes WORKDIR (checkpoints/,
tensorboard/, history.json, config.yaml, model.keras). Every other worker runs the same
saves, as TensorFlow requires (saving may need collectives), into WORKDIR/.worker-<i>-tmp,
removed when it finishes. Resume: every worker restores the chief's latest checkpoint in
WORKDIR/checkpoints, so WORKDIR must be on a filesystem all hosts see (NFS, GCS, ...);
the workers then check that they all restored the same step.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

from tfrecords_tools.configlib import ConfigError


@dataclasses.dataclass(frozen=True)
class Worker:
    """This process's place in the cluster (one worker and chief for a single process)."""
    task_type: str = "worker"
    task_id: int = 0
    is_chief: bool = True
    replicas: int = 1   # replicas in sync over the whole cluster

    def output_dir(self, workdir: Path) -> Path:
        """WORKDIR on the chief; WORKDIR/.<task_type>-<id>-tmp on any other worker."""
        return workdir if self.is_chief else workdir / f".{self.task_type}-{self.task_id}-tmp"


def make_strategy(name: str):
    """The tf.distribute strategy of `train.strategy` (create it before any other TF op)."""
    import tensorflow as tf
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ConfigError("train.strategy multi_worker needs the TF_CONFIG environment "
                              "variable (cluster and task of this process); see gmcml_tf/training/distribute.py")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except ValueError as e:
            raise ConfigError(f"TF_CONFIG is not JSON: {e}") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def worker_info(strategy) -> Worker:
    replicas = int(strategy.num_replicas_in_sync)
    resolver = strategy.cluster_resolver if _multi_worker(strategy) else None
    if resolver is None or not resolver.task_type:
        return Worker(replicas=replicas)
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief)
    return Worker(task_type, task_id, chief, replicas)


def is_distributed(strategy) -> bool:
    """True for mirrored and multi_worker (the default strategy feeds datasets as they are)."""
    import tensorflow as tf
    return isinstance(strategy, (tf.distribute.MirroredStrategy,
                                 tf.distribute.MultiWorkerMirroredStrategy))


def _multi_worker(strategy) -> bool:
    import tensorflow as tf
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def train_dataset(strategy, make):
    """`make()` (a tf.data.Dataset of per-replica batches), sharded by batch per worker."""
    if not is_distributed(strategy):
        return make()
    import tensorflow as tf

    def per_worker(ctx):
        ds = make()
        if ctx.num_input_pipelines > 1:
            ds = ds.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
        return ds.with_options(_no_autoshard(tf))

    return strategy.distribute_datasets_from_function(per_worker)


def eval_dataset(strategy, ds):
    """The whole `ds` on every worker (its batches spread over the worker's replicas)."""
    if not is_distributed(strategy):
        return ds
    import tensorflow as tf
    ds = ds.with_options(_no_autoshard(tf))
    return strategy.distribute_datasets_from_function(lambda ctx: ds)


def _no_autoshard(tf):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return options


def check_same_start(strategy, step: int) -> None:
    """Raise unless every worker restored the same step (multi_worker only; a collective)."""
    if not _multi_worker(strategy):
        return
    import tensorflow as tf
    per_replica = strategy.run(lambda: tf.constant([step], tf.int64))
    steps = sorted({int(x) for x in strategy.gather(per_replica, axis=0).numpy()})
    if len(steps) > 1:
        raise ConfigError(f"the workers resumed at different steps {steps}: every worker "
                          "must see the chief's WORKDIR/checkpoints (a shared filesystem)")


def start(worker: Worker, workdir: Path) -> Path:
    """This worker's output folder, emptied first on a non-chief (a stale temp dir)."""
    out = worker.output_dir(workdir)
    if not worker.is_chief:
        shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    return out


def finish(worker: Worker, workdir: Path) -> None:
    """Remove a non-chief's temp dir (what it wrote only mirrors the chief's)."""
    if not worker.is_chief:
        shutil.rmtree(worker.output_dir(workdir), ignore_errors=True)


def patch_keras(model, strategy) -> None:
    """Work around two Keras 3 (3.15) defects with tf.distribute; call after compile.

    1. `_maybe_symbolic_build` takes the first batch of a distributed dataset and calls
       `strategy.reduce` on it, which fails on dict batches ("unsupported type dict") and
       costs a batch. It only builds what is unbuilt; GM-CML is built on construction and
       the trainer builds the optimizer, so it is skipped (checked here).
    2. Under MultiWorkerMirroredStrategy (2+ workers) the step outputs are reduced with
       `strategy.reduce("MEAN", v, axis=0)`, which fails on scalars ("Invalid reduction
       dimension 0"): the steps return their metrics with shape (1,), reduced to scalars.
    """
    import tensorflow as tf
    if not is_distributed(strategy):
        return
    if all(layer.built for layer in model._flatten_layers()) and model.optimizer.built:
        model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    if _multi_worker(strategy) and strategy.extended._in_multi_worker_mode():  # Keras' test
        def rank1(step):
            return lambda data: {k: tf.reshape(v, [1]) for k, v in step(data).items()}
        model.train_step, model.test_step = rank1(model.train_step), rank1(model.test_step)
