"""The HTTP service: in-process through its ASGI app, and as a real uvicorn process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import CORPUS_FILES, PROTECTED_PROSE
from fastapi.testclient import TestClient
from samples import UNRELATED, disguise
from stores_support import free_port

from ipguard import Guard
from ipguard.service import create_app, openapi_document


@pytest.fixture()
def client(built_index: Path) -> Iterator[TestClient]:
    with Guard.open(str(built_index)) as guard:
        yield TestClient(create_app(guard, max_body_bytes=20_000))


def test_check_returns_the_cli_json(client: TestClient) -> None:
    response = client.post(
        "/v1/check", json={"text": f"```rust\n{disguise('rust')}\n```", "path": "a.md"}
    )
    assert response.status_code == 200
    (result,) = response.json()["results"]
    assert result["path"] == "a.md" and result["action"] == "block"
    match = result["matches"][0]
    assert match["source"].endswith("intervals_rust.rs") and match["license"] == "LicenseRef-test"
    assert len(match["output_span"]) == 2 and len(match["source_lines"]) == 2
    batch = client.post(
        "/v1/check",
        json={
            "inputs": [
                {"text": UNRELATED["go"], "language": "go", "path": "ok.go"},
                {"text": PROTECTED_PROSE},
            ]
        },
    ).json()["results"]
    assert [r["action"] for r in batch] == ["allow", "block"]


def test_filter_redacts_and_blocks(client: TestClient) -> None:
    text = "Start. " + PROTECTED_PROSE + " End."
    redacted = client.post("/v1/filter", json={"text": text, "action": "redact"}).json()
    assert redacted["text"].startswith("Start. [ipguard: redacted]")
    blocked = client.post("/v1/filter", json={"text": text}).json()
    assert blocked["text"].startswith("[ipguard: output withheld")
    assert client.post("/v1/filter", json={"text": "Fresh words."}).json()["text"] == "Fresh words."


def test_stats_health_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    stats = client.get("/v1/stats").json()
    assert stats["documents"] == CORPUS_FILES and stats["config"]["num_perm"] == 64
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.") and {"/v1/check", "/v1/filter", "/v1/stats"} <= set(
        spec["paths"]
    )


def test_malformed_and_oversized_requests_get_clear_4xx_json(client: TestClient) -> None:
    bad_json = client.post(
        "/v1/check", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400 and "error" in bad_json.json()
    wrong_shape = client.post("/v1/check", json={"text": 42})
    assert wrong_shape.status_code == 400 and "text" in wrong_shape.json()["error"]
    neither = client.post("/v1/check", json={})
    assert neither.status_code == 400
    too_big = client.post("/v1/check", json={"text": "x" * 30_000})
    assert too_big.status_code == 413 and "error" in too_big.json()


def test_bearer_token_is_required_when_set(built_index: Path) -> None:
    with Guard.open(str(built_index)) as guard:
        client = TestClient(create_app(guard, token="s3cret"))
        assert client.post("/v1/check", json={"text": "hi"}).status_code == 401
        wrong = client.post(
            "/v1/check", json={"text": "hi"}, headers={"Authorization": "Bearer nope"}
        )
        assert wrong.status_code == 401
        ok = client.post(
            "/v1/check", json={"text": "hi"}, headers={"Authorization": "Bearer s3cret"}
        )
        assert ok.status_code == 200
        assert client.get("/healthz").status_code == 200
        assert "/v1/check" in openapi_document(create_app(guard))["paths"]


@pytest.fixture()
def server(built_index: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "IPGUARD_TOKEN": "tok"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ipguard",
            "serve",
            "--index",
            str(built_index),
            "--port",
            str(port),
            "--read-timeout",
            "1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_real_server_answers_and_times_out_slow_clients(server: str) -> None:
    headers = {"Authorization": "Bearer tok"}
    response = httpx.post(
        f"{server}/v1/check", json={"text": PROTECTED_PROSE}, headers=headers, timeout=30
    )
    assert response.status_code == 200 and response.json()["results"][0]["action"] == "block"
    assert httpx.post(f"{server}/v1/check", json={"text": "x"}, timeout=10).status_code == 401
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"text": '
        )
        started = time.monotonic()
        reply = ""
        while "\r\n\r\n" not in reply or not reply.rstrip().endswith("}"):
            data = sock.recv(4096)
            if not data:
                break
            reply += data.decode()
        assert " 408 " in reply.splitlines()[0] and time.monotonic() - started < 8
        assert json.loads(reply.split("\r\n\r\n", 1)[1])["error"]


def test_bounded_load_with_four_clients_has_no_errors(server: str) -> None:
    """4 concurrent clients on loopback, 15 requests each, bounded by a timeout."""
    import threading

    headers = {"Authorization": "Bearer tok"}
    bodies = [PROTECTED_PROSE, UNRELATED["python"], disguise("c"), "short text " * 150]
    failures: list[str] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        with httpx.Client(base_url=server, timeout=30, headers=headers) as http:
            for i in range(15):
                try:
                    r = http.post("/v1/check", json={"text": bodies[(n + i) % len(bodies)]})
                    with lock:
                        statuses.append(r.status_code)
                except httpx.HTTPError as exc:
                    with lock:
                        failures.append(repr(exc))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures and statuses == [200] * 60
