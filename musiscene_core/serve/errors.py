"""Every error becomes `{"error": "<one sentence>"}` with a 4xx status; anything unexpected is a 500 without details."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from musiscene_core.errors import UserError
from musiscene_core.serve.audio import RangeNotSatisfiable

log = logging.getLogger(__name__)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid_parameter)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(RangeNotSatisfiable, _range_not_satisfiable)
    app.add_exception_handler(Exception, _unexpected)


def _error(status: int, sentence: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": sentence}, status_code=status, headers=headers)


async def _invalid_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    where = first.get("loc", ())
    name = str(where[-1]) if where else "request"
    message = str(first.get("msg", "is invalid")).rstrip(".")
    return _error(422, f"invalid parameter {name}: {message[:1].lower()}{message[1:]}.")


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else "the request cannot be answered."
    if exc.status_code == 404 and detail == "Not Found":
        detail = "there is nothing at this address."
    elif exc.status_code == 405:
        detail = "this address does not accept that method."
    return _error(exc.status_code, detail, getattr(exc, "headers", None))


async def _user_error(request: Request, exc: UserError) -> JSONResponse:
    return _error(400, str(exc))


async def _range_not_satisfiable(request: Request, exc: RangeNotSatisfiable) -> JSONResponse:
    return _error(416, "the requested byte range starts beyond the end of the file.", {"Content-Range": f"bytes */{exc.size}"})


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to the server log only: a response never shows internals.
    log.error("unexpected error answering %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, "the server failed to answer this request; the error is in its log.")
