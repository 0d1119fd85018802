"""3D models -> paired RGB / semantic-mask / depth TFRecord shards (paper §III).

Data flows one way: meshes -> cameras -> renderer -> compositing -> shards.
This package knows nothing of the networks and does not import TensorFlow
(shards are written with a small protobuf/TFRecord encoder of its own, so render
workers start fast and stay small).
"""
