"""`gmcml-tf serve`: the part of TF Serving's REST API that clients use, on starlette + uvicorn.

  GET  /v1/models/NAME[/versions/N]            version status
  GET  /v1/models/NAME[/versions/N]/metadata   signature defs
  POST /v1/models/NAME[/versions/N]:predict    instances / inputs, signature_name

Every client mistake is a 4xx with {"error": "..."}; the model runs in a worker
thread, so a slow request never blocks the event loop. Concurrent predicts are batched
(batching.py), as TF Serving's --enable_batching does.
"""
from __future__ import annotations

import re

import tensorflow as tf
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gmcml_tf.preprocess import error_message
from gmcml_tf.serving import rest
from gmcml_tf.serving.batching import Batcher, BatchingParameters, QueueFull
from gmcml_tf.serving.repository import ModelRepository, NotFound

_PATH = re.compile(r"^(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?"
                   r"(?P<suffix>/metadata|:predict|:classify|:regress)?$")


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise rest.RequestError(f"request body of {declared} bytes is over the limit of {limit}", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise rest.RequestError(f"request body is over the limit of {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


_BAD_INPUT = (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError)


def create_app(repo: ModelRepository, limits: rest.Limits | None = None,
               batching: BatchingParameters | None = None) -> Starlette:
    """`batching`: merge concurrent predicts into one call (batching.py); None: one call each."""
    limits = limits or rest.Limits()
    batcher = Batcher(batching, on_bad_input=lambda e: isinstance(e, _BAD_INPUT)) if batching else None

    def _predict(servable, body):
        name, inputs, row = rest.parse_predict(body, servable.signatures, limits)
        fn = servable.signature(name)

        def call(**arrays):
            return fn(**{k: tf.constant(v) for k, v in arrays.items()})
        try:
            outputs = batcher.run(servable, name, inputs, call) if batcher else call(**inputs)
        except _BAD_INPUT as e:
            # e.g. a truncated JPEG whose header was fine: name the model's complaint
            raise rest.RequestError(f"{'instances' if row else 'inputs'}: {error_message(e)}") from None
        except QueueFull as e:
            raise rest.RequestError(str(e), 503) from None
        return rest.encode_json(rest.format_predict(outputs, row))  # in the worker thread

    async def models(request: Request) -> JSONResponse:
        m = _PATH.match(request.path_params["rest"])
        if not m:
            return _error(f"Malformed request: {request.method} {request.url.path}", 404)
        name, version, suffix = m["name"], m["version"], m["suffix"] or ""
        version = int(version) if version else None
        try:
            if request.method == "GET" and suffix == "":
                return JSONResponse(rest.model_status(repo.status(name, version)))
            if request.method == "GET" and suffix == "/metadata":
                servable = repo.get(name, version)  # never waits: loads run in the background
                return JSONResponse(rest.metadata(name, servable.version, servable.signatures,
                                                  servable.classes))
            if request.method == "POST" and suffix == ":predict":
                raw = await _read_body(request, limits.max_body_bytes)
                body = rest.decode_body(raw)
                servable = repo.get(name, version)  # never waits: loads run in the background
                return Response(await run_in_threadpool(_predict, servable, body),
                                media_type="application/json")
            if suffix in (":classify", ":regress"):
                return _error(f"{suffix[1:]} is not supported: these models expose predict "
                              "signatures only", 400)
            return _error(f"Malformed request: {request.method} {request.url.path}", 405 if
                          suffix in ("", "/metadata", ":predict") else 404)
        except NotFound as e:
            return _error(str(e), 404)
        except rest.RequestError as e:
            return _error(str(e), e.status)

    return Starlette(routes=[Route("/v1/models/{rest:path}", models, methods=["GET", "POST"])])


def serve(model: str, host: str = "127.0.0.1", port: int = 8501, name: str | None = None,
          limits: rest.Limits | None = None, log_level: str = "warning", policy: str = "latest",
          versions: list[int] | None = None, poll_s: float = 1.0,
          batching: BatchingParameters | None = None) -> None:
    """Loads and warms up the served versions, binds the port, then announces the URL.
    `batching`: the request batching parameters (None: every request runs alone).

    `saved_models/NAME/N` serves version N only (the specific policy); new versions are
    picked up in the background every `poll_s` seconds.
    """
    import socket

    import uvicorn
    from gmcml_tf.serving.repository import resolve_model_dir
    base, version = resolve_model_dir(model)
    if version is not None:
        policy, versions = "specific", [version]
    # Bound before loading: a taken port is one clear error (OSError) without a wasted load.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise OSError(e.errno, f"cannot listen on {host}:{port} ({e.strerror})") from None
    try:
        repo = ModelRepository(base, name=name, policy=policy, versions=versions, poll_s=poll_s)
    except BaseException:
        sock.close()
        raise
    print(f"serving {repo.name} versions {repo.versions()} from {base} on http://{host}:{port}"
          f"/v1/models/{repo.name}", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(repo, limits, batching), log_level=log_level))
    try:
        server.run(sockets=[sock])
    finally:
        repo.close()
