"""Bearer-token authentication for every route except /healthz (ASGI middleware, so no route can be forgotten)."""

from __future__ import annotations

import hmac
import json

OPEN_PATHS = frozenset({"/healthz"})


class BearerTokenMiddleware:
    """Answers 401 unless the request carries `Authorization: Bearer <token>`."""

    def __init__(self, app, token: str):
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": "a valid token is required: send the header 'Authorization: Bearer <token>'."})
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="musiscene"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})

    def _authorized(self, scope) -> bool:
        values = [value for name, value in scope["headers"] if name == b"authorization"]
        # Constant-time comparison: response timing must not reveal how much of a guess was right.
        return len(values) == 1 and hmac.compare_digest(values[0], self._expected)
