"""A small exported model and a real uvicorn server on loopback, shared by the serving tests."""
from __future__ import annotations

import contextlib
import io
import threading
import time

import numpy as np
from PIL import Image

from gmcml_tf.bench.serve import free_port
from tfrecords_tools.categories import CATEGORIES

SIZE = 32


def tiny_model(seed: int = 0):
    """A GM-CML-shaped model (logits, descriptor, reconstruction) small enough for tests."""
    import keras
    keras.utils.set_random_seed(seed)
    from gmcml_tf.models.gmcml import GMCML
    model = GMCML(image_size=SIZE, num_classes=len(CATEGORIES), recon_filters=(8, 8, 16, 16),
                  latent_dim=8, hidden_dim=16, seed=seed)
    model(np.zeros((1, SIZE, SIZE, 3), np.float32))
    return model


def png_bytes(shape=(40, 50, 3), seed=0, mode=None) -> bytes:
    arr = (np.random.default_rng(seed).random(shape) * 255).astype(np.uint8)
    im = Image.fromarray(arr) if mode is None else Image.fromarray(arr).convert(mode)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


@contextlib.contextmanager
def running_server(app):
    """uvicorn serving `app` on 127.0.0.1 in a thread; yields the base URL."""
    import uvicorn
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
