"""A local OpenAI-compatible chat server on 127.0.0.1 for tests; the requested model name picks its behaviour.

normal     a scene sentence derived from the prompt, with token usage
timeout    answers only after `slow_s` seconds (longer than the client's timeout)
slow       a normal answer after 0.3 s (so that concurrent requests overlap)
garbage    HTTP 200 with a body that is not JSON
refusal    "I'm sorry, but I can't help with that."
degenerate a repetition loop
empty      an empty message
flaky      HTTP 503 (Retry-After: 0) for the first attempt of every prompt, then normal
secret     401 unless the request carries "Authorization: Bearer let-me-in"
scripted   the next behaviour of `script` (a list the test fills), normal once it is empty
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PLACES = [
    "a rainy city street at night",
    "a quiet beach at dawn",
    "a snowy forest path",
    "a crowded neon market",
    "an empty school corridor",
    "a sunny park with families",
]
ACTIONS = [
    "a couple walks slowly",
    "a car speeds away",
    "children run and laugh",
    "a lone figure waits",
    "dancers spin in the light",
    "a dog chases a ball",
]


def scene_for(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return f"A slow-motion shot of {PLACES[digest[0] % len(PLACES)]} where {ACTIONS[digest[1] % len(ACTIONS)]}."


class LLMServer:
    def __init__(self, slow_s: float = 3.0):
        self.slow_s = slow_s
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self.script: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    server._handle(self)
                finally:
                    with server._lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> LLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def drain(self, limit_s: float = 30.0) -> None:
        """Wait until no request is being answered."""
        deadline = time.time() + limit_s
        while self.in_flight and time.time() < deadline:
            time.sleep(0.05)

    def _reply(
        self, handler, status: int, body: bytes, content_type: str = "application/json", headers: dict | None = None
    ) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        try:
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)

    def _handle(self, handler) -> None:
        if handler.path != "/v1/chat/completions":
            return self._reply(handler, 404, b'{"error": "not found"}')
        request = json.loads(handler.rfile.read(int(handler.headers["Content-Length"])))
        with self._lock:
            self.requests.append({**request, "authorization": handler.headers.get("Authorization")})
        model = request["model"]
        if model == "scripted":
            with self._lock:
                model = self.script.pop(0) if self.script else "normal"
        prompt = request["messages"][-1]["content"]
        text = scene_for(prompt)
        if model == "timeout":
            time.sleep(self.slow_s)
        elif model == "slow":
            time.sleep(0.3)
        elif model == "garbage":
            return self._reply(handler, 200, b"<html>upstream proxy error \x00\x01", "text/html")
        elif model == "refusal":
            text = "I'm sorry, but I can't help with that."
        elif model == "degenerate":
            text = "music music music " * 30
        elif model == "empty":
            text = ""
        elif model == "flaky":
            with self._lock:
                first = prompt not in self._seen
                self._seen.add(prompt)
            if first:
                return self._reply(handler, 503, b'{"error": "overloaded"}', headers={"Retry-After": "0"})
        elif model == "secret" and handler.headers.get("Authorization") != "Bearer let-me-in":
            return self._reply(handler, 401, b'{"error": "bad key"}')
        body = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": len(prompt.split()),
                "completion_tokens": len(text.split()),
                "total_tokens": len(prompt.split()) + len(text.split()),
            },
        }
        self._reply(handler, 200, json.dumps(body).encode())
