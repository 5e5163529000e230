"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from pixseek import __version__
from pixseek.access.authenticator import Authenticator
from pixseek.access.keys import ensure_bootstrap_key
from pixseek.api.body_limit import BodyLimit
from pixseek.api.contract import install_contract
from pixseek.api.errors import install_error_handlers
from pixseek.api.jobs_runner import JobRunner
from pixseek.api.metrics import RequestMetrics, service_registry
from pixseek.api.metrics import router as metrics_router
from pixseek.api.request_id import RequestId
from pixseek.api.routes import (
    curation,
    duplicates,
    health,
    images,
    jobs,
    regions,
    saved_searches,
    search,
    status,
    tags,
    web,
    webhooks,
)
from pixseek.api.saved_searches import refresh_all
from pixseek.api.session import SessionSigner, session_secret
from pixseek.api.warmup import ModelWarmup
from pixseek.core.db import ensure_schema, session_scope
from pixseek.core.events import on_published
from pixseek.core.settings import Settings, get_settings
from pixseek.index.webhooks import WebhookDispatcher
from pixseek.search.duplicates.service import DuplicateService
from pixseek.search.regions import RegionSearchService
from pixseek.search.service import SearchService

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for `settings` (default: from the environment)."""
    settings = settings or get_settings()
    ensure_schema(settings)
    if settings.bootstrap_api_key is not None:
        with session_scope(settings) as session:
            ensure_bootstrap_key(session, settings.bootstrap_api_key.get_secret_value())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.random_weights:
            log.warning("api.random_weights: serving a model with random weights; results are meaningless")
        if settings.preload_model:
            app.state.warmup.start()
        app.state.webhooks.start()  # only with receivers configured
        yield
        app.state.webhooks.stop()
        # A warm-up still loading must not outlive its app (tests start and stop many).
        app.state.warmup.wait(timeout=min(60.0, settings.shutdown_grace_seconds))
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
    app.state.warmup = ModelWarmup(app.state.search)
    # Saved searches follow every publish this process makes (its embedded ingests).
    on_published(settings, lambda published: refresh_all(published, app.state.search))
    app.state.webhooks = WebhookDispatcher(settings)  # events to receivers, off the request path
    app.state.access = Authenticator(settings)  # keys, scopes and rate limits: see api/auth.py
    app.state.sessions = SessionSigner(session_secret(settings), settings.session_hours)  # web sign-in
    app.state.metrics_registry = service_registry(settings, app.state.search)
    install_error_handlers(app)
    install_contract(app, settings)  # the OpenAPI document as the server behaves (api/contract.py)

    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(RequestMetrics)  # outside the body limit: its refusals are counted too
    app.add_middleware(RequestId)  # outermost: every response carries the id, refusals included

    for module in (
        health,
        status,
        search,
        regions,
        images,
        tags,
        jobs,
        duplicates,
        curation,
        saved_searches,
        webhooks,
    ):
        app.include_router(module.router)
    app.include_router(metrics_router)
    app.include_router(web.router)  # the web UI's pages, and their scripts and styles
    app.mount("/static", StaticFiles(directory=web.STATIC_DIR), name="static")
    return app
