"""The web page: a fixed set of files shipped inside the package, never a path taken from the request."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
# The page loads nothing from other origins; the policy makes browsers enforce that.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; media-src 'self'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

router = APIRouter(include_in_schema=False)


def _read(name: str) -> bytes:
    return (files("musiscene_core.serve") / "static" / name).read_bytes()


_FILES = {name: _read(name) for name in _TYPES}


@router.get("/")
def index() -> Response:
    return Response(_FILES["index.html"], media_type=_TYPES["index.html"], headers=_HEADERS)


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in _FILES or name == "index.html":
        raise HTTPException(404, "there is no such file of the page.")
    return Response(_FILES[name], media_type=_TYPES[name], headers=_HEADERS | {"Cache-Control": "no-cache"})
