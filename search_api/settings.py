"""Settings of the HTTP service, read from GLOSSARY_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from limits import RateLimitItem, parse_many
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from indexer.encoder import Encoder, available_cores
from indexer.paths import default_index_dir
from search_api.fusion import FusionWeights
from search_api.searcher import Searcher


class Settings(BaseSettings):
    """Every setting of the service. Each is documented in the README (a test checks)."""

    model_config = SettingsConfigDict(env_prefix="GLOSSARY_", frozen=True)

    index: Path = Field(default_factory=default_index_dir, description="Index directory to serve.")
    host: str = Field("127.0.0.1", description="Address `glossary serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `glossary serve` listens on.")
    cors_origins: list[str] = Field(
        default=["*"],
        description='Origins allowed to call the read-only API from a browser, as JSON: ["https://a.example"].',
    )
    threads: int = Field(1, ge=1, description="Threads per process for embedding queries.")
    query_encoder: Literal["onnx-int8", "onnx", "torch"] = Field(
        "onnx-int8",
        description=(
            "Runtime that embeds queries: onnx-int8 (ONNX Runtime, weights quantized to int8: fastest), "
            "onnx (ONNX Runtime, full precision: the torch model's vectors) or torch."
        ),
    )
    fusion: dict[str, float] = Field(
        default_factory=dict,
        description=(
            'Overrides of the fusion weights, as JSON: {"lexical": 2.0, "floor": 1.0}; '
            "keys: the features, floor, lookup."
        ),
    )

    workers: int = Field(
        default_factory=available_cores,
        ge=1,
        description="Worker processes of `glossary serve` (default: one per core); each loads the index.",
    )
    keepalive_timeout: int = Field(5, ge=1, description="Seconds an idle keep-alive connection stays open.")
    head_timeout: float = Field(
        10.0, gt=0, description="Seconds a client has to send a whole request, from connecting or its last answer."
    )
    max_head_bytes: int = Field(16384, ge=8192, description="Largest request head (request line and headers), bytes.")
    max_in_flight: int = Field(
        32, ge=1, description="Requests in flight per worker beyond which the API answers 503 with Retry-After."
    )
    search_slots: int = Field(
        1, ge=1, description="Searches run at once per worker; waiting ones are served client by client in turn."
    )
    search_niceness: int = Field(
        5,
        ge=0,
        le=19,
        description="How much lower the threads that run searches are scheduled than the thread that "
        "answers /health and sheds load (Linux nice steps; 0: the same).",
    )
    max_in_flight_per_client: int = Field(
        4, ge=1, description="Requests in flight per worker from one client beyond which it gets 429."
    )
    rate_limit: str = Field(
        "10/second;300/minute",
        description="Requests per client per worker, as limits notation joined by ';'. Empty: no limit.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description='Proxies whose X-Forwarded-For names the client, as JSON: ["10.0.0.1", "10.0.0.0/8"].',
    )
    reload_interval: float = Field(
        2.0, ge=0, description="Seconds between checks of the index for a new build; 0: never reload."
    )
    access_log: bool = Field(True, description="Log one line per request to stderr.")
    ray_batch_size: int = Field(
        8, ge=1, le=256, description="`glossary serve --ray`: queries embedded together at most, per replica."
    )
    ray_batch_wait_ms: float = Field(
        2.0, ge=0, le=1000, description="`glossary serve --ray`: milliseconds a batch waits for more queries."
    )

    @field_validator("rate_limit")
    @classmethod
    def _parsable_rate_limit(cls, value: str) -> str:
        if value.strip():
            parse_many(value)  # raises ValueError naming what it cannot read
        return value

    def rate_limits(self) -> list[RateLimitItem]:
        return parse_many(self.rate_limit) if self.rate_limit.strip() else []

    @field_validator("fusion")
    @classmethod
    def _known_weights(cls, value: dict[str, float]) -> dict[str, float]:
        FusionWeights().with_overrides(value)  # raises ValueError naming any unknown key
        return value

    def load_searcher(self, encoder: Encoder | None = None, index: Path | None = None) -> Searcher:
        """The searcher these settings describe: index, fusion weights, query encoder, threads.

        Pass the `encoder` of a searcher already loaded to reuse it (it must embed with the index's model),
        and `index` to read another directory than the setting's (one build of it, say).
        """
        return Searcher.load(
            index or self.index,
            encoder=encoder,
            threads=self.threads,
            query_encoder=self.query_encoder,
            overrides=self.fusion,
        )

    def load_build(self, index: Path, encoder: Encoder | None) -> Searcher:
        """`load_searcher` as a holder's loader: the index directory to read, and the encoder to reuse if any."""
        return self.load_searcher(encoder, index)


@lru_cache
def get_settings() -> Settings:
    return Settings()
