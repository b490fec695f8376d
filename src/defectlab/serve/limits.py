"""Service settings and the request-body size guard."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_KEY_ENV = "DEFECTLAB_API_KEY"
"""Environment variable that, when set and non-empty, makes every /v1 route require the key."""

MB = 1024 * 1024


@dataclass(frozen=True)
class ServiceSettings:
    """Limits and pool size of one service instance.

    ``max_upload_bytes`` bounds a whole request body (413 beyond it), ``max_pixels`` every decoded
    image (413 beyond it, checked from the header before decoding), ``max_batch`` the number of
    files in one batch request, ``workers`` the threads that run the model, and ``max_pending``
    the requests allowed to wait for a worker before the service answers 503.
    ``allow_threshold_edit`` lets ``POST /v1/model/threshold`` and the UI's *Save threshold*
    rewrite the bundle's decision threshold (off: 403, and the UI only shows the rates).
    """

    max_upload_bytes: int = 20 * MB
    max_pixels: int = 40_000_000
    max_batch: int = 64
    workers: int = 2
    max_pending: int = 64
    api_key: str | None = None
    allow_threshold_edit: bool = False

    @classmethod
    def from_env(cls, **overrides: Any) -> ServiceSettings:
        """Settings with the API key taken from ``DEFECTLAB_API_KEY`` (empty = no key)."""
        return cls(api_key=os.environ.get(API_KEY_ENV) or None, **overrides)


class BodySizeLimit:
    """ASGI middleware: 413 for a body over ``limit`` bytes, by Content-Length or while streaming.

    A declared Content-Length over the limit is refused before anything is read. Otherwise the
    body is read here (counting, so a chunked body is refused as soon as it passes the limit) and
    handed to the application whole, which then never sees an oversized request.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send, f"the request body is {int(declared)} bytes, over the limit of {self.limit}")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(send, f"the request body is over the limit of {self.limit} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as a server would

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(send: Send, detail: str) -> None:
        body = json.dumps({"error": "payload_too_large", "detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
