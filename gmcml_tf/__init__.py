"""gmcml_tf: object recognisers for real photos from 3D models alone (GM-CML, Wang & Deng,
arXiv 1705.08590). The Python API (`gmcml_tf.api`) is importable from here:

    import gmcml_tf as gm
    run = gm.fit("configs/zigzagnet.yaml", data="data_out/quickstart", workdir="runs/zigzagnet")

Attributes load on first use, so `import gmcml_tf` stays light (no TensorFlow).
"""

__version__ = "0.3.0"
__all__ = ["render", "fit", "load_run", "evaluate", "adapt", "export", "Run"]


def __getattr__(name: str):
    if name in __all__:
        from gmcml_tf import api
        return getattr(api, name)
    raise AttributeError(f"module 'gmcml_tf' has no attribute {name!r}")
