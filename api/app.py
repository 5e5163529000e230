"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from pixseek import __version__
from pixseek.api.errors import error_response, install_error_handlers
from pixseek.api.jobs_runner import JobRunner
from pixseek.api.routes import duplicates, health, images, jobs, regions, search
from pixseek.core.db import ensure_schema
from pixseek.core.settings import Settings, get_settings
from pixseek.search.duplicates.service import DuplicateService
from pixseek.search.regions import RegionSearchService
from pixseek.search.service import SearchService

log = logging.getLogger(__name__)

# Multipart framing around an upload; bodies larger than the upload limit plus this are refused early.
MULTIPART_OVERHEAD = 64 * 1024


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for `settings` (default: from the environment)."""
    settings = settings or get_settings()
    ensure_schema(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.random_weights:
            log.warning("api.random_weights: serving a model with random weights; results are meaningless")
        yield
        app.state.jobs.shutdown()

    app = FastAPI(
        title="pixseek",
        version=__version__,
        description="Multimodal image retrieval: text-to-image, image-to-image and duplicates.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.search = SearchService(settings)
    # The region and duplicate services share the search service's model and index.
    app.state.regions = RegionSearchService(settings, app.state.search)
    app.state.duplicates = DuplicateService(settings, app.state.search)
    app.state.jobs = JobRunner(settings)
    install_error_handlers(app)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):  # type: ignore[no-untyped-def]
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return error_response(400, "invalid_request", "invalid Content-Length header")
            if int(length) > settings.max_upload_bytes + MULTIPART_OVERHEAD:
                return error_response(
                    413, "payload_too_large", f"request body exceeds {settings.max_upload_bytes} bytes"
                )
        response: Response = await call_next(request)
        return response

    for module in (health, search, regions, images, jobs, duplicates):
        app.include_router(module.router)
    return app
