"""Benchmarks (figures for the README, never timed tests): `gmcml-tf bench render|train`
(render_train.py), `bench input` (input.py), `bench serve` (serve.py), and the long
measurements run as modules: `python -m gmcml_tf.bench.serve_load`, `.serve_versions`,
`.render_memory`, `.multiworker_local`."""
