"""The HTTP client of `gmcml-tf bench serve`: it counts 5xx answers, stops on a 4xx (its own
mistake), and survives a server that closes the connection after each answer."""
from __future__ import annotations

import itertools

import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from gmcml_tf.bench.serve import _latencies
from serving_fixtures import running_server


def _app(statuses, close: bool = False) -> Starlette:
    cycle = itertools.cycle(statuses)

    async def predict(request):
        await request.body()
        headers = {"Connection": "close"} if close else {}
        return Response(b'{"predictions": []}', status_code=next(cycle), headers=headers,
                        media_type="application/json")
    return Starlette(routes=[Route("/v1/models/m:predict", predict, methods=["POST"])])


@pytest.mark.parametrize("close", [False, True])
def test_bench_client_counts_5xx_and_times_every_request(close):
    with running_server(_app([200, 503], close=close)) as url:
        lat, wall, errors = _latencies(f"{url}/v1/models/m:predict", b"{}", 8, 2)
    assert len(lat) == 8 and all(0 < x <= wall for x in lat)
    assert errors == 4  # the server answers 200 and 503 in turn


def test_bench_client_stops_on_a_4xx():
    with running_server(_app([400])) as url, pytest.raises(RuntimeError, match="answered 400"):
        _latencies(f"{url}/v1/models/m:predict", b"{}", 4, 1)
