"""Settings of the HTTP service, read from GLOSSARY_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    query_encoder: Literal["onnx", "torch"] = Field(
        "onnx", description="Runtime that embeds queries: onnx (same vectors, faster) or torch."
    )
    fusion: dict[str, float] = Field(
        default_factory=dict,
        description=(
            'Overrides of the fusion weights, as JSON: {"lexical": 2.0, "floor": 1.0}; '
            "keys: the features, floor, lookup."
        ),
    )

    @field_validator("fusion")
    @classmethod
    def _known_weights(cls, value: dict[str, float]) -> dict[str, float]:
        FusionWeights().with_overrides(value)  # raises ValueError naming any unknown key
        return value

    def load_searcher(self) -> Searcher:
        """The searcher these settings describe: index, fusion weights, query encoder, threads."""
        return Searcher.load(
            self.index, weights=self.fusion_weights(), threads=self.threads, query_encoder=self.query_encoder
        )

    def fusion_weights(self) -> FusionWeights:
        """The default fusion weights with this setting's overrides applied."""
        return FusionWeights.learned().with_overrides(self.fusion)


@lru_cache
def get_settings() -> Settings:
    return Settings()
