"""The HTTP client of `gmcml-tf bench serve`: it counts 5xx answers, stops on a 4xx (its own
mistake), and sends a request again, once, on a new connection when the server has closed
the old one."""
from __future__ import annotations

import itertools
import socket
import threading

import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from gmcml_tf.bench.serve import _Client, _latencies
from serving_fixtures import running_server


def _app(statuses) -> Starlette:
    cycle = itertools.cycle(statuses)

    async def predict(request):
        await request.body()
        return Response(b'{"predictions": []}', status_code=next(cycle), media_type="application/json")
    return Starlette(routes=[Route("/v1/models/m:predict", predict, methods=["POST"])])


def test_bench_client_counts_5xx_and_times_every_request():
    with running_server(_app([200, 503])) as url:
        clients = [_Client(f"{url}/v1/models/m:predict") for _ in range(2)]
        lat, wall, errors = _latencies(clients, b"{}", 8)
    assert len(lat) == 8 and all(0 < x <= wall for x in lat)
    assert errors == 4  # the server answers 200 and 503 in turn
    assert [c.reconnects for c in clients] == [0, 0]  # keep-alive: one connection each


def test_bench_client_stops_on_a_4xx():
    with running_server(_app([400])) as url, pytest.raises(RuntimeError, match="answered 400"):
        _latencies([_Client(f"{url}/v1/models/m:predict")], b"{}", 4)


def test_bench_client_resends_once_when_the_server_closed_the_connection():
    """A server that answers one request per connection and then closes it without saying
    so (no `Connection: close`): the next request on that connection fails and is sent again."""
    srv = socket.create_server(("127.0.0.1", 0))
    handled = []

    def serve():
        for _ in range(2):
            conn, _ = srv.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, body = data.split(b"\r\n\r\n", 1)
                length = int(next(h.split(b":")[1] for h in head.split(b"\r\n")
                                  if h.lower().startswith(b"content-length")))
                while len(body) < length:
                    body += conn.recv(65536)
                handled.append(body)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = _Client(f"http://127.0.0.1:{srv.getsockname()[1]}/v1/models/m:predict")
    try:
        assert client.post(b'{"a": 1}') == 200
        assert client.post(b'{"a": 2}') == 200
    finally:
        client.close()
        thread.join(5)
        srv.close()
    assert client.reconnects == 1
    assert handled == [b'{"a": 1}', b'{"a": 2}']
