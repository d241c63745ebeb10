"""The HTTP API, built by a factory; the searcher loads once, at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, Response

from search_api.errors import install_error_handlers
from search_api.schemas import (
    EntryPublic,
    ErrorPublic,
    HealthPublic,
    HitPublic,
    InferencePublic,
    SearchPublic,
    SuggestionPublic,
    SuggestPublic,
    TermSummary,
)
from search_api.searcher import MAX_K, MAX_QUERY_CHARS, Searcher, check_query
from search_api.settings import Settings, get_settings
from search_api.snippets import shorten

SUGGEST_MAX = 20
ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorPublic, "description": "Unknown term id or path"},
    422: {"model": ErrorPublic, "description": "Bad query parameters"},
}


def get_searcher(request: Request) -> Searcher:
    searcher: Searcher = request.app.state.searcher
    return searcher


SearcherDep = Annotated[Searcher, Depends(get_searcher)]


def create_app(settings: Settings | None = None, searcher: Searcher | None = None) -> FastAPI:
    """The API app. Pass a loaded `searcher` to share one across apps (tests do)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.searcher = searcher or settings.load_searcher()
        app.state.searcher.answer("warm up", 1)  # the first model call is slow; pay it before the first user
        yield

    app = FastAPI(
        title="Glossary Search",
        summary="Semantic search over glossary definitions; every answer shows the inference behind it.",
        version="0.1.0",
        lifespan=lifespan,
        responses=ERRORS,
    )
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET"], allow_headers=["*"])
    install_error_handlers(app)
    _add_routes(app)
    _add_pages(app)
    return app


def _summary(searcher: Searcher, entry_id: str) -> TermSummary:
    entry = searcher.by_id[entry_id]
    return TermSummary(id=entry.id, term=entry.term, aliases=list(entry.aliases), category=entry.category)


def _add_routes(app: FastAPI) -> None:
    @app.get("/search", response_model=SearchPublic, tags=["search"])
    def search(
        searcher: SearcherDep,
        q: Annotated[str, Query(description=f"The question or name, at most {MAX_QUERY_CHARS} characters.")],
        k: Annotated[int, Query(ge=1, le=MAX_K, description="How many hits at most.")] = 10,
    ) -> SearchPublic:
        """Rank glossary entries for a question: dense, lexical and name signals fused."""
        answer = searcher.answer(q, k)
        inference = InferencePublic(model=searcher.model, embed_ms=answer.embed_ms, search_ms=answer.search_ms)
        hits = [HitPublic(**vars(hit)) for hit in answer.hits]
        return SearchPublic(query=answer.query, hits=hits, did_you_mean=answer.did_you_mean, inference=inference)

    @app.get("/suggest", response_model=SuggestPublic, tags=["search"])
    def suggest(
        searcher: SearcherDep,
        q: Annotated[str, Query(description="What has been typed so far.")],
        limit: Annotated[int, Query(ge=1, le=SUGGEST_MAX)] = 8,
    ) -> SuggestPublic:
        """Names that start like (or nearly match) what is typed. No model call: for every keystroke."""
        if q.strip():
            check_query(q, 1)
        names = searcher.names.suggest(q, limit)
        suggestions = [
            SuggestionPublic(
                id=n.entry_id,
                term=n.term,
                matched=n.name,
                definition=shorten(searcher.by_id[n.entry_id].definition, 160),
            )
            for n in names
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
            raise HTTPException(404, f"no entry with id {term_id!r}; GET /terms lists the ids")
        related = [_summary(searcher, r) for r in entry.related if r in searcher.by_id]
        return EntryPublic(**{**entry.model_dump(exclude={"related"}), "related": related})

    @app.get("/health", response_model=HealthPublic, tags=["service"])
    def health(searcher: SearcherDep) -> HealthPublic:
        """The service is up and serving this index."""
        manifest = searcher.index.manifest
        return HealthPublic(
            status="ok",
            model=manifest.model,
            entries=manifest.entries,
            vectors=manifest.vectors,
            built_at=manifest.built_at,
        )


STATIC = Path(__file__).resolve().parent / "static"


def _static(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def _add_pages(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def demo() -> HTMLResponse:
        return HTMLResponse(_static("index.html"))

    @app.get("/widget.js", include_in_schema=False)
    def widget() -> Response:
        return Response(
            _static("widget.js"),
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300"},
        )
