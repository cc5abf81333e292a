"""The rate limiter when its Redis is unreachable or silent: requests are answered (never a 500 or a
hung thread) and the limit still holds, counted in each process's memory (ports 8840-8849)."""

from __future__ import annotations

import socket
import threading

import pytest

from app.http.limits import STORAGE_TIMEOUT_S
from conftest import free_port

PORTS = range(8840, 8850)


def post(client):
    """A cheap API call that counts (bad base64: answered 400 before any network runs)."""
    return client.post("/api/v1/match", json={"image": "!!"})


def statuses_within(client, count: int, seconds: float = 60) -> list[int]:
    """`count` POSTs in a thread; their statuses, or a failure when they do not finish in `seconds`
    (a storage call that never gave up would hold the thread for good)."""
    out: list[int] = []
    worker = threading.Thread(target=lambda: out.extend(post(client).status_code for _ in range(count)),
                              daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"requests hung on the limiter's storage: {out}"
    return out


@pytest.fixture()
def silent_redis():
    """A port that accepts connections (the kernel's backlog) and never answers, as a Redis behind a
    dead route or a frozen host."""
    port = free_port(PORTS)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen(16)
        yield f"redis://127.0.0.1:{port}/0"


def test_refused_redis_falls_back_to_counting_in_memory(make_app):
    """Nothing listens on the storage's port: answered as usual, and the third POST is still refused."""
    uri = f"redis://127.0.0.1:{free_port(PORTS)}/0"
    client = make_app(RATE_LIMIT="2/hour", RATE_LIMIT_STORAGE_URI=uri).test_client()
    assert statuses_within(client, 3) == [400, 400, 429]


def test_silent_redis_is_given_up_after_its_timeout(make_app, silent_redis):
    """The first POST waits out the storage timeout, then every process counts in memory."""
    client = make_app(RATE_LIMIT="2/hour", RATE_LIMIT_STORAGE_URI=silent_redis).test_client()
    assert statuses_within(client, 3) == [400, 400, 429]


def test_a_timeout_in_the_uri_wins(make_app, silent_redis):
    """The limiter waits STORAGE_TIMEOUT_S (redis-py alone would wait 5 s); `?socket_timeout=` in
    RATE_LIMIT_STORAGE_URI replaces it (redis-py reads the URI last)."""
    app = make_app(RATE_LIMIT="2/hour", RATE_LIMIT_STORAGE_URI=silent_redis + "?socket_timeout=0.2")
    limiter = app.extensions["limiter"]
    pool = next(iter(limiter)).storage.storage.connection_pool
    assert pool.connection_kwargs["socket_timeout"] == 0.2
    assert pool.connection_kwargs["socket_connect_timeout"] == STORAGE_TIMEOUT_S
