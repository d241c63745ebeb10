"""The HTTP API, built by a factory; the searcher loads once, at start-up, and is swapped for new builds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from search_api.errors import install_error_handlers
from search_api.fusion import weight_set
from search_api.hits import Hit
from search_api.holder import Loader, SearcherHolder, build_name
from search_api.middleware import AccessLog, HeadAsGet, JsonCORSMiddleware, SecurityHeaders
from search_api.pool import FairPool, lowered
from search_api.querytext import NOT_BLANK_PATTERN, is_blank
from search_api.schemas import (
    EntryPublic,
    ErrorPublic,
    HealthPublic,
    HitPublic,
    InferencePublic,
    SearchPublic,
    SensePublic,
    SuggestionPublic,
    SuggestPublic,
    TermSummary,
)
from search_api.searcher import MAX_K, MAX_QUERY_CHARS, Searcher, check_query
from search_api.settings import Settings, get_settings
from search_api.shedding import InFlightCap, RateLimit
from search_api.snippets import shorten

SUGGEST_MAX = 20

ID_SHOWN = 80  # characters of an unknown id echoed back in a 404
ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorPublic, "description": "Unknown term id or path"},
    422: {"model": ErrorPublic, "description": "Bad query parameters"},
    429: {"model": ErrorPublic, "description": "Too many requests from this client; see Retry-After"},
    503: {"model": ErrorPublic, "description": "Too many requests in flight; see Retry-After"},
}


async def get_searcher(request: Request) -> Searcher:
    """The current searcher, taken once per request: a reload never changes it under a request."""
    holder: SearcherHolder = request.app.state.holder
    return holder.current


SearcherDep = Annotated[Searcher, Depends(get_searcher)]


def create_app(
    settings: Settings | None = None, searcher: Searcher | None = None, load: Loader | None = None
) -> FastAPI:
    """The API app. Pass a loaded `searcher` to share one across apps (tests do), and `load` to load the
    index (at start-up unless `searcher` is given, and each new build) otherwise than `settings` does."""
    settings = settings or get_settings()
    load = load or settings.load_build

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        first = searcher or load(settings.index, None)
        first.answer("warm up", 1)  # the first model call is slow; pay it before the first user
        holder = SearcherHolder(first, settings.index, load)
        app.state.holder = holder
        # Searches (model calls) run GLOSSARY_SEARCH_SLOTS at a time per worker, in a pool of their own,
        # served to waiting clients in turn; the event loop (which answers /health and sheds load)
        # then competes for the interpreter with a few threads, not dozens.
        app.state.search_pool = FairPool(settings.search_slots)
        app.state.search_niceness = settings.search_niceness
        watcher = asyncio.create_task(holder.watch(settings.reload_interval)) if settings.reload_interval else None
        yield
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    app = FastAPI(
        title="Glossary Search",
        summary="Semantic search over glossary definitions; every answer shows the inference behind it.",
        version="0.1.0",
        lifespan=lifespan,
        responses=ERRORS,
        docs_url=None,
        redoc_url=None,
    )
    _add_middleware(app, settings)
    install_error_handlers(app)
    _add_routes(app)
    _add_pages(app)
    _add_docs(app)
    return app


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    """Outermost last: access log, proxy headers, HEAD, security headers, CORS, rate limit, in-flight cap."""
    app.add_middleware(InFlightCap, cap=settings.max_in_flight, per_client=settings.max_in_flight_per_client)
    if settings.rate_limits():
        app.add_middleware(RateLimit, limits=settings.rate_limits())
    app.add_middleware(
        JsonCORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "HEAD"], allow_headers=["*"]
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HeadAsGet)
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    if settings.access_log:
        app.add_middleware(AccessLog)


class Grouping(StrEnum):
    term = "term"


def _sense_public(hit: Hit) -> SensePublic:
    return SensePublic(**{name: getattr(hit, name) for name in SensePublic.model_fields})


def _hit_public(hit: Hit, grouped: bool) -> HitPublic:
    """The public hit; `senses` is set (and so shown) only for a grouped search."""
    fields: dict[str, object] = {name: getattr(hit, name) for name in SensePublic.model_fields}
    if grouped:
        fields["senses"] = [_sense_public(sense) for sense in hit.senses]
    return HitPublic(**fields)


def _summary(searcher: Searcher, entry_id: str) -> TermSummary:
    entry = searcher.by_id[entry_id]
    return TermSummary(id=entry.id, term=entry.term, aliases=list(entry.aliases), category=entry.category)


QueryText = Annotated[
    str,
    Query(
        description=f"The question or name: 1 to {MAX_QUERY_CHARS} characters, not only spaces.",
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        pattern=NOT_BLANK_PATTERN,
    ),
]
TypedText = Annotated[
    str, Query(description=f"What has been typed so far, at most {MAX_QUERY_CHARS} characters.", max_length=500)
]


def _add_routes(app: FastAPI) -> None:
    # exclude_unset: a hit's `senses` appears only when it was set, i.e. with group=term
    @app.get("/search", response_model=SearchPublic, response_model_exclude_unset=True, tags=["search"])
    async def search(
        request: Request,
        searcher: SearcherDep,
        q: QueryText,
        k: Annotated[int, Query(ge=1, le=MAX_K, description="How many hits (or, grouped, terms) at most.")] = 10,
        group: Annotated[
            Grouping | None,
            Query(
                description="term: one hit per distinct term (the best-ranked sense), with the term's other "
                "senses that answer the query under `senses`. Absent: every entry is its own hit."
            ),
        ] = None,
    ) -> SearchPublic:
        """Rank glossary entries for a question: dense, lexical and name signals fused."""
        pool: FairPool = request.app.state.search_pool
        client = request.client.host if request.client else "unknown"
        grouping = group.value if group is not None else None
        async with pool.slot(client):
            ask = partial(searcher.answer, q, k, group=grouping)
            answer = await anyio.to_thread.run_sync(lowered(ask, request.app.state.search_niceness))
        inference = InferencePublic(
            model=searcher.model,
            runtime=searcher.encoder.runtime,
            embed_ms=answer.embed_ms,
            search_ms=answer.search_ms,
            build=build_name(searcher),
        )
        hits = [_hit_public(hit, grouping is not None) for hit in answer.hits]
        return SearchPublic(
            query=answer.query,
            hits=hits,
            did_you_mean=answer.did_you_mean,
            read_as=answer.read_as,
            inference=inference,
        )

    @app.get("/suggest", response_model=SuggestPublic, tags=["search"])
    def suggest(
        searcher: SearcherDep,
        q: TypedText,
        limit: Annotated[int, Query(ge=1, le=SUGGEST_MAX)] = 8,
    ) -> SuggestPublic:
        """Names that start like (or nearly match) what is typed. No model call: for every keystroke."""
        if is_blank(q):
            return SuggestPublic(query=q, suggestions=[])
        check_query(q, 1)
        suggestions = [
            SuggestionPublic(
                id=n.entry_id,
                term=n.term,
                matched=n.name,
                definition=shorten(searcher.by_id[n.entry_id].definition, 160),
            )
            for n in searcher.names.suggest(q, limit)
        ]
        return SuggestPublic(query=q, suggestions=suggestions)

    @app.get("/terms", response_model=list[TermSummary], tags=["terms"])
    def terms(searcher: SearcherDep) -> list[TermSummary]:
        """Every entry of the glossary, in glossary order."""
        return [_summary(searcher, entry.id) for entry in searcher.entries]

    @app.get("/terms/{term_id}", response_model=EntryPublic, tags=["terms"])
    def term(searcher: SearcherDep, term_id: str) -> EntryPublic:
        """One entry in full, with its related entries resolved to names."""
        entry = searcher.by_id.get(term_id)
        if entry is None:
            shown = repr(term_id) if len(term_id) <= ID_SHOWN else f"{term_id[:ID_SHOWN]!r}... ({len(term_id)} chars)"
            raise HTTPException(404, f"no entry with id {shown}; GET /terms lists the ids")
        related = [_summary(searcher, r) for r in entry.related if r in searcher.by_id]
        return EntryPublic(**{**entry.model_dump(exclude={"related"}), "related": related})

    @app.get("/health", response_model=HealthPublic, tags=["service"])
    async def health(searcher: SearcherDep) -> HealthPublic:
        """The service is up and serving this index build. Answered on the event loop, never queued."""
        manifest = searcher.index.manifest
        return HealthPublic(
            status="ok",
            build=build_name(searcher),
            model=manifest.model,
            query_model=manifest.query_model_name,
            query_runtime=searcher.encoder.runtime,
            entries=manifest.entries,
            vectors=manifest.vectors,
            built_at=manifest.built_at,
            corpus_fingerprint=manifest.corpus_fingerprint,
            late_interaction=searcher.late is not None,
            token_vectors=manifest.tokens.count if manifest.tokens is not None else 0,
            fusion_weights=weight_set(tokens=searcher.late is not None, described=searcher.described),
        )


STATIC = Path(__file__).resolve().parent / "static"


def _add_pages(app: FastAPI) -> None:
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    script = (STATIC / "widget.js").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def demo() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/widget.js", include_in_schema=False)
    async def widget() -> Response:
        return Response(
            script, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "public, max-age=300"}
        )


def _docs_assets() -> Path:
    try:
        import fastapi_offline
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ImportError(
            "/docs serves Swagger UI from the package fastapi-offline: pip install fastapi-offline"
        ) from exc
    return Path(fastapi_offline.__file__).parent / "static"


def _add_docs(app: FastAPI) -> None:
    """Swagger UI at /docs with its scripts served from here, not from a CDN."""
    app.mount("/docs-assets", StaticFiles(directory=_docs_assets()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Glossary Search API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )
