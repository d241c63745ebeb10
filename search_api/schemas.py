"""HTTP response models, named by role."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SensePublic(BaseModel):
    """One ranked entry. A hit of a grouped search (`group=term`) lists its term's other senses as these."""

    id: str
    term: str
    score: float = Field(description="Fused score; higher is better.")
    matched_field: str = Field(description="Field that matched: term, alias, definition, analogy, ...")
    snippet: str = Field(description="A short piece of the matched text.")
    definition: str
    category: str | None
    signals: dict[str, float] = Field(
        description="Each signal's own score: dense (cosine), lexical (BM25), name (0-1)."
    )


class HitPublic(SensePublic):
    senses: list[SensePublic] | None = Field(
        default=None,
        description="Only with group=term: the other entries with this hit's term (its other senses) that also "
        "answer the query, best first; absent otherwise.",
    )


QUERY_RUNTIME = (
    "What runs the query model: onnxruntime-VERSION-EXPORT (ending in -int8 for the int8 copy, the default) "
    "or torch-VERSION-WEIGHTS (GLOSSARY_QUERY_ENCODER)."
)


class InferencePublic(BaseModel):
    model: str = Field(description="Sentence-transformers model that embedded the query.")
    runtime: str = Field(description=QUERY_RUNTIME)
    embed_ms: float = Field(description="Milliseconds spent embedding the query.")
    search_ms: float = Field(description="Milliseconds spent ranking (vector, lexical and name search, fusion).")
    build: str = Field(description="The index build that answered, as GET /health names it.")


class SearchPublic(BaseModel):
    query: str
    hits: list[HitPublic]
    did_you_mean: str | None = Field(description="A glossary name close to a misspelt query, else null.")
    read_as: str | None = Field(
        description="The query as it was ranked, when a misspelt word of a glossary name in it was read as "
        "that word ('how does gradient desent work' as '... descent ...'), else null."
    )
    inference: InferencePublic


class SuggestionPublic(BaseModel):
    id: str
    term: str
    matched: str = Field(description="The name that matched: the term itself or one of its aliases.")
    definition: str = Field(description="The start of the entry's definition, at most 160 characters.")


class SuggestPublic(BaseModel):
    query: str
    suggestions: list[SuggestionPublic]


class TermSummary(BaseModel):
    id: str
    term: str
    aliases: list[str]
    category: str | None


class EntryPublic(BaseModel):
    id: str
    term: str
    aliases: list[str]
    category: str | None
    definition: str
    plain_english: str | None
    analogy: str | None
    example: str | None
    usage: str | None
    misconceptions: list[str]
    described_as: list[str] = Field(
        default_factory=list,
        description="Everyday descriptions of the concept by people who do not know its name (searched too).",
    )
    related: list[TermSummary] = Field(description="Related entries, resolved to their names.")


class HealthPublic(BaseModel):
    status: str
    build: str = Field(description="The index build being served (its version directory's name).")
    model: str = Field(description="The model that embedded the index's texts.")
    query_model: str = Field(
        description="The model that embeds queries: the same, or that base with a query adapter (name@checksum)."
    )
    query_runtime: str = Field(description=QUERY_RUNTIME)
    entries: int
    vectors: int
    built_at: str
    corpus_fingerprint: str = Field(description="SHA-256 of the glossary the build indexed.")
    late_interaction: bool = Field(
        description="Whether ranking compares the question's tokens with the entries' (the index has a token "
        "store, and no query adapter embeds the questions)."
    )
    token_vectors: int = Field(description="Token vectors in the index's token store (0: it has none).")
    fusion_weights: str = Field(
        description="The learned weight set ranking uses: tokens or no_tokens (with or without a token store), "
        "prefixed described_ when at least half the entries have everyday descriptions; GLOSSARY_FUSION "
        "overrides apply on top."
    )


class ErrorDetail(BaseModel):
    status: int
    code: str
    message: str


class ErrorPublic(BaseModel):
    error: ErrorDetail
