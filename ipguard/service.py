"""The HTTP service: the CLI's JSON over HTTP, for pipelines written in any language.

A thin layer over `Guard` on FastAPI/uvicorn (the `serve` extra). Requests and
responses use the same JSON as `ipguard check --format json`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._version import __version__
from .errors import InputError, IpguardError, LimitExceededError
from .guard import Guard

log = logging.getLogger(__name__)

#: Request bodies above this are refused with 413 before they are read in full.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
#: A client that sends nothing for this long while a request is open gets 408.
DEFAULT_READ_TIMEOUT_S = 10.0


class CheckInput(BaseModel):
    """One output to check."""

    text: str
    path: str = Field(default="<request>", description="Name reported back in the result.")
    kind: Literal["code", "text", "markdown"] | None = None
    language: str | None = None


class CheckRequest(BaseModel):
    """Either one `text` or several `inputs`."""

    text: str | None = None
    path: str = "<request>"
    kind: Literal["code", "text", "markdown"] | None = None
    language: str | None = None
    inputs: list[CheckInput] | None = None

    def items(self) -> list[CheckInput]:
        if self.inputs is not None:
            return self.inputs
        if self.text is None:
            raise ValueError("give `text` or `inputs`")
        return [CheckInput(text=self.text, path=self.path, kind=self.kind, language=self.language)]


class FilterRequest(BaseModel):
    text: str
    kind: Literal["code", "text", "markdown"] | None = None
    language: str | None = None
    action: Literal["redact", "block"] | None = None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class _LimitsMiddleware:
    """Bearer token, body size limit and read timeout, enforced before the app runs."""

    def __init__(
        self, app: ASGIApp, *, token: str | None, max_body: int, read_timeout: float
    ) -> None:
        self.app = app
        self.token = token
        self.max_body = max_body
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.token and scope["path"].startswith("/v1/"):
            supplied = headers.get("authorization", "")
            expected = f"Bearer {self.token}"
            if not hmac.compare_digest(supplied.encode(), expected.encode()):
                await _error(401, "missing or wrong bearer token")(scope, receive, send)
                return
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await _error(413, f"request body over {self.max_body} bytes")(scope, receive, send)
            return
        # The body is read here, in full and under both limits, then replayed
        # to the app: a slow or oversized upload never reaches a worker thread.
        body = bytearray()
        more = True
        while more:
            try:
                message = await asyncio.wait_for(receive(), timeout=self.read_timeout)
            except asyncio.TimeoutError:
                await _error(408, "request body not received in time")(scope, receive, send)
                return
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body:
                await _error(413, f"request body over {self.max_body} bytes")(scope, receive, send)
                return
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def create_app(
    guard: Guard,
    *,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    read_timeout: float = DEFAULT_READ_TIMEOUT_S,
) -> ASGIApp:
    """The ASGI application serving `guard` (one lock: a Guard is used by one thread at a time)."""
    lock = threading.Lock()
    app = FastAPI(
        title="ipguard",
        version=__version__,
        description="Check generated text and code against an index of protected material.",
        docs_url=None,  # the interactive docs load assets from a CDN; the spec is at /openapi.json
        redoc_url=None,
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return _error(400, f"invalid request: {problems}")

    @app.exception_handler(InputError)
    async def _too_big(request: Request, exc: InputError) -> JSONResponse:
        if isinstance(exc, LimitExceededError) and exc.limit == "max_check_seconds":
            return _error(503, str(exc))
        return _error(413, str(exc))

    @app.exception_handler(IpguardError)
    async def _failed(request: Request, exc: IpguardError) -> JSONResponse:
        return _error(503, str(exc))

    @app.exception_handler(ValueError)
    async def _bad_value(request: Request, exc: ValueError) -> JSONResponse:
        return _error(400, str(exc))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "version": __version__}

    @app.post("/v1/check")
    def check(request: CheckRequest) -> dict[str, Any]:
        """Verdicts with their matches, as `ipguard check --format json`."""
        results = []
        for item in request.items():
            with lock:
                verdict = guard.check(item.text, kind=item.kind, language=item.language)
            results.append({"path": item.path, **verdict.to_json()})
        return {"results": results}

    @app.post("/v1/filter")
    def filter_(request: FilterRequest) -> dict[str, Any]:
        """The text a user may see, with the verdict that decided it."""
        from .policy import apply

        with lock:
            verdict = guard.check(request.text, kind=request.kind, language=request.language)
        text = apply(request.text, verdict, guard.policy, request.action)
        return {"text": text, "results": [{"path": "<request>", **verdict.to_json()}]}

    @app.get("/v1/stats")
    def stats() -> dict[str, Any]:
        """Documents, windows, bytes and configuration of the index."""
        with lock:
            return guard.stats().to_json()

    return _LimitsMiddleware(app, token=token, max_body=max_body_bytes, read_timeout=read_timeout)


def openapi_document(app: ASGIApp) -> dict[str, Any]:
    """The OpenAPI document of an app made by `create_app`."""
    inner = app.app if isinstance(app, _LimitsMiddleware) else app
    return json.loads(json.dumps(inner.openapi()))  # type: ignore[attr-defined]
