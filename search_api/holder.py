"""The searcher a server answers from, swapped for a new build without a restart.

A request takes `holder.current` once and answers from it to the end, so a reload, one
assignment, never mixes two indexes in one answer; requests in flight finish on the old
searcher. A new build is loaded and verified beside the old one; a damaged one is
refused and logged, and the old one keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread

from indexer.encoder import Encoder
from indexer.errors import GlossaryError
from indexer.storage import MANIFEST, read_manifest
from search_api.searcher import Searcher

logger = logging.getLogger("glossary.reload")

# Loads the index directory at a path; given an encoder (that of the searcher it replaces), reuses it.
Loader = Callable[[Path, Encoder | None], Searcher]


@dataclass(frozen=True)
class BuildIdentity:
    """What changes when a new build is published at the index path (or an index is rewritten in place)."""

    directory: str
    manifest_mtime_ns: int
    manifest_inode: int


def identity_of(path: Path) -> BuildIdentity | None:
    directory = os.path.realpath(path)
    try:
        stat = os.stat(Path(directory) / MANIFEST)
    except OSError:
        return None
    return BuildIdentity(directory, stat.st_mtime_ns, stat.st_ino)


def build_name(searcher: Searcher) -> str:
    """The name of the build a searcher answers from: its version directory (see indexer.publish)."""
    location = searcher.index.location
    return location.name if location is not None else searcher.index.manifest.built_at


class SearcherHolder:
    """Holds the current searcher; `reload_if_changed` swaps in a new build in one assignment."""

    def __init__(self, searcher: Searcher, path: Path, load: Loader) -> None:
        self.current = searcher
        self.path = path
        self._load = load
        self._seen = identity_of(path)
        self._lock = threading.Lock()  # one load at a time: the watcher's, or a `serve_from`

    def reload_if_changed(self) -> bool:
        """Load a newly published build, if any, beside the current one and switch to it. Blocking."""
        with self._lock:
            return self._reload_if_changed()

    def serve_from(self, path: Path) -> bool:
        """Serve (and from now on watch) the index at `path`: a version directory pins that build,
        the index path follows whatever is published there. Blocking; True if the build changed."""
        with self._lock:
            self.path = path
            if identity_of(path) is None:
                logger.error("no index build at %s; still serving %s", path, build_name(self.current))
            return self._reload_if_changed()

    def _reload_if_changed(self) -> bool:
        seen = identity_of(self.path)
        if seen is None or seen == self._seen:
            return False
        self._seen = seen  # a refused build is not retried until another one is published
        old = self.current
        directory = Path(seen.directory)  # the build that was seen, even if another is published meanwhile
        try:
            model = read_manifest(directory).query_model_name
            fresh = self._load(directory, old.encoder if model == old.model else None)
            fresh.answer("warm up", 1)
        except GlossaryError as exc:
            logger.error("refused the new index build at %s: %s; still serving %s", self.path, exc, build_name(old))
            return False
        self.current = fresh
        logger.warning("now serving index build %s (was %s)", build_name(fresh), build_name(old))
        return True

    async def watch(self, interval: float) -> None:
        """Check for a new build every `interval` seconds, loading it in a worker thread."""
        while True:
            await asyncio.sleep(interval)
            try:
                await anyio.to_thread.run_sync(self.reload_if_changed)
            except Exception:  # keep watching whatever happened; the old searcher keeps serving
                logger.exception("reloading the index at %s failed", self.path)
