"""The server's application: the API and page routes, error handling, metrics, authentication, index reloads."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from musiscene_core.serve import api, errors, page
from musiscene_core.serve.audio import AudioStore
from musiscene_core.serve.auth import BearerTokenMiddleware
from musiscene_core.serve.catalogs import CatalogRegistry, Reloader
from musiscene_core.serve.metrics import Metrics, MetricsMiddleware

DESCRIPTION = (
    "Scene search over music catalogs tagged by MusiScene: text to tracks by scene caption, "
    "more like this by audio embedding, track rows and audio with HTTP range requests."
)


def create_app(
    catalogs: CatalogRegistry,
    *,
    token: str | None = None,
    endpoint_url: str | None = None,
    reload_interval: float | None = 10.0,
) -> FastAPI:
    """An app serving `catalogs`; with `token`, every route but /healthz needs `Authorization: Bearer <token>`.

    With `reload_interval` (seconds), rebuilt indexes are swapped in while the app runs.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        reloader = Reloader(catalogs, reload_interval) if reload_interval else None
        if reloader is not None:
            reloader.start()
        try:
            yield
        finally:
            if reloader is not None:
                reloader.stop()

    app = FastAPI(
        title="MusiScene search",
        description=DESCRIPTION,
        version=_version(),
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.catalogs = catalogs
    app.state.audio = AudioStore(endpoint_url)
    app.state.metrics = Metrics(catalogs)
    app.include_router(api.router)
    app.include_router(page.router)
    errors.install(app)
    if token is not None:
        app.add_middleware(BearerTokenMiddleware, token=token)
        _declare_bearer_auth(app)
    # Added last, so it is outermost: refused and failed requests are counted too.
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


def _declare_bearer_auth(app: FastAPI) -> None:
    """Name the bearer scheme in the OpenAPI document, so clients and generated tools send the token."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"bearer": []}]
            schema["paths"]["/healthz"]["get"]["security"] = []
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("musiscene")
    except PackageNotFoundError:
        return "0.0.0"
