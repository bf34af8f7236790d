"""Fixtures for the payment gateways: a localstripe server and both gateways.

`localstripe` runs in a subprocess bound to 127.0.0.1 (its own entry point
listens on every interface and writes /tmp/localstripe.pickle on each change;
this one does neither), once per test session.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from payments.gateway import get_gateway
from payments.gateway.base import Gateway

LOCALSTRIPE_SERVER = """
import sys
from aiohttp import web
from localstripe import server
from localstripe.resources import store

store.dump_to_disk = lambda: None  # keep its state in memory only
web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""

TEST_SECRET_KEY = "sk_test_contract"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCALSTRIPE_SERVER, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"{url}/js.stripe.com/v3/", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"localstripe did not start: {err}") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class GatewayUnderTest:
    name: str  # "local" | "stripe"
    gateway: Gateway


@pytest.fixture
def local_gateway(db: None, settings: Any) -> Gateway:
    settings.PAYMENTS_GATEWAY = "local"
    return get_gateway()


@pytest.fixture
def stripe_gateway(localstripe_url: str, settings: Any) -> Gateway:
    settings.PAYMENTS_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = TEST_SECRET_KEY
    settings.STRIPE_API_BASE = localstripe_url
    return get_gateway()
