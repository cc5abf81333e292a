"""Two app servers behind nginx sharing one Redis for the rate-limit counters, as a fleet behind a load
balancer runs (ports 8800-8829). Checks correctness, not speed: a client limited to N POSTs gets N in
all, whichever server answers; when Redis goes away requests are still answered and limited per server;
when it is back the servers count in it again.

Skipped where redis-server or nginx is not installed (`make fleet-tools` installs both)."""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import pytest
from fleet_support import Redis, counted_post, nginx, program, request, wait_until
from gunicorn_support import Served, gunicorn

from conftest import free_port

REDIS_PORTS, SERVER_PORTS, PROXY_PORTS = range(8800, 8810), range(8810, 8820), range(8820, 8830)
LIMIT = 4
# Per hour, not per minute: the same counting, with a window no run of this module outlasts however busy
# the machine is.
RATE_LIMIT = f"{LIMIT}/hour"


class Fleet(NamedTuple):
    redis: Redis
    servers: list[Served]
    proxy: int

    def upstreams(self) -> set[str]:
        """The servers as nginx names them in X-Upstream."""
        return {f"127.0.0.1:{s.port}" for s in self.servers}

    def logs(self) -> str:
        return "".join(s.log.read_text(errors="replace") for s in self.servers)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    program("redis-server"), program("nginx")  # skip before starting anything
    tmp = tmp_path_factory.mktemp("fleet")
    redis = Redis(tmp / "redis", free_port(REDIS_PORTS))
    env = {"LOOKSLIKE_RATE_LIMIT": RATE_LIMIT, "LOOKSLIKE_RATE_LIMIT_STORAGE_URI": redis.uri,
           "LOOKSLIKE_TRUSTED_PROXIES": "1", "GUNICORN_THREADS": "4"}
    with contextlib.ExitStack() as stack:
        redis.start()
        stack.callback(redis.stop)
        servers = []
        for name in ("a", "b"):
            (tmp / name).mkdir()
            servers.append(stack.enter_context(gunicorn(tmp / name, env, "wsgi:app", workers=1, ready="/readyz",
                                                        ports=SERVER_PORTS)))
        proxy = stack.enter_context(nginx(tmp / "nginx", free_port(PROXY_PORTS), [s.port for s in servers]))
        yield Fleet(redis, servers, proxy)


def spend(fleet: Fleet, source: str, count: int) -> list[tuple[int, str]]:
    """`count` counted POSTs from one client address, one after another: (status, server) of each."""
    return [counted_post(fleet.proxy, source) for _ in range(count)]


def test_a_client_gets_its_limit_once_across_both_servers(fleet):
    answers = spend(fleet, "127.0.0.2", LIMIT + 1)
    assert [status for status, _ in answers] == [400] * LIMIT + [429]
    assert {server for _, server in answers[:LIMIT]} == fleet.upstreams()  # both servers counted
    assert fleet.redis.keys("*addr:127.0.0.2*") == 1  # one counter, in Redis


def test_each_client_address_has_its_own_budget(fleet):
    """nginx forwards the client's address (X-Forwarded-For), which the servers count by (TRUSTED_PROXIES=1)."""
    assert [status for status, _ in spend(fleet, "127.0.0.3", LIMIT + 1)] == [400] * LIMIT + [429]
    assert counted_post(fleet.proxy, "127.0.0.2")[0] == 429


def test_without_redis_requests_are_answered_and_limited_per_server(fleet):
    """Redis stops: no 5xx and still ready; each server counts in its own memory, so a new client gets the
    limit once per server (nginx alternates between them), then 429."""
    fleet.redis.stop()
    answers = spend(fleet, "127.0.0.4", 2 * LIMIT + 1)
    assert [status for status, _ in answers] == [400] * (2 * LIMIT) + [429]
    for server in fleet.servers:
        assert request(server.port, "GET", "/readyz")[0] == 200
    logs = fleet.logs()
    assert logs.count("[WARNING] Rate limit storage unreachable - falling back to in-memory storage") == 2
    assert "Traceback" not in logs and '"status": 500' not in logs


def test_when_redis_is_back_the_servers_count_in_it_again(fleet):
    """Each server checks whether Redis answers again after 1, 2, 4 ... 32 s (at its next counted request):
    probe with one POST from a new address at a time until both have written a counter to Redis."""
    if fleet.redis.proc.poll() is None:  # run alone (`-k`): take Redis away first
        fleet.redis.stop()
        spend(fleet, "127.0.0.6", len(fleet.servers))
    fleet.redis.start()
    back: set[str] = set()
    probes = iter(f"127.1.{n // 250}.{n % 250 + 1}" for n in range(10_000))

    def both_servers_back() -> bool:
        source = next(probes)
        status, server = counted_post(fleet.proxy, source)
        assert status == 400
        if fleet.redis.keys(f"*addr:{source}*"):
            back.add(server)
        return back == fleet.upstreams()

    wait_until(both_servers_back, "both servers counting in Redis again", seconds=120, every=0.5)
    assert fleet.logs().count("[INFO] Rate limit storage recovered") == len(fleet.servers)
    answers = spend(fleet, "127.0.0.5", LIMIT + 1)
    assert [status for status, _ in answers] == [400] * LIMIT + [429]
