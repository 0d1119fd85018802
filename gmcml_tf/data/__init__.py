"""Input pipeline: rendered shards -> tf.data batches for GM-CML (docs/method.md §1, §4).

shards.py (finding/checking shards), decoder.py (tf.Example -> tensors),
parser.py (resize, background removal, flip), samplers.py (multi-triplet sets),
pipeline.py (`make_dataset`). Its throughput benchmark: gmcml_tf.bench.input.
"""
from gmcml_tf.data.pipeline import make_dataset
from gmcml_tf.vocabulary import SET_SIZE
from gmcml_tf.data.shards import DataError, list_shards

__all__ = ["DataError", "SET_SIZE", "list_shards", "make_dataset"]
