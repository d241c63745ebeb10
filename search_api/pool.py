"""The search pool of one worker: a few model calls at a time, waiting clients served in turn.

A first-come queue lets one client that keeps several searches waiting put all of them in
front of everyone else's. Here each client has its own queue and a freed slot goes to the
next client in turn, so a polite client waits for at most the searches running and one of
each other client's, however many a greedy one has queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

T = TypeVar("T")
_thread = threading.local()


def lowered(call: Callable[[], T], niceness: int) -> Callable[[], T]:
    """`call`, run with the calling thread scheduled `niceness` steps lower (once per thread, for good).

    Searches run in worker threads; the event loop's thread answers /health and turns excess
    load away. On a saturated machine the kernel then gives the loop its turn first, so those
    stay quick while searches queue. (Linux applies a thread's nice value to that thread alone;
    elsewhere, or if the kernel refuses, nothing changes.)
    """

    def run() -> T:
        if niceness and getattr(_thread, "niceness", 0) < niceness:
            with contextlib.suppress(OSError, AttributeError):
                thread = threading.get_native_id()
                now = os.getpriority(os.PRIO_PROCESS, thread)
                os.setpriority(os.PRIO_PROCESS, thread, min(19, now + niceness - getattr(_thread, "niceness", 0)))
            _thread.niceness = niceness
        return call()

    return run


class FairPool:
    """`slots` slots; waiters grouped by client, freed slots handed round-robin between clients."""

    def __init__(self, slots: int = 1) -> None:
        self.free = slots
        self.waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    @asynccontextmanager
    async def slot(self, client: str) -> AsyncIterator[None]:
        if not self.free:
            granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.waiting.setdefault(client, deque()).append(granted)
            try:
                await granted
            except asyncio.CancelledError:
                if granted.done() and not granted.cancelled():
                    self._hand_on()  # it was ours already: pass it on
                else:
                    self._forget(client, granted)
                raise
        else:
            self.free -= 1
        try:
            yield
        finally:
            self._hand_on()

    def _hand_on(self) -> None:
        while self.waiting:
            client, queue = next(iter(self.waiting.items()))
            granted = queue.popleft()
            if queue:
                self.waiting.move_to_end(client)  # this client's next search waits for the others' turn
            else:
                del self.waiting[client]
            if not granted.cancelled():
                granted.set_result(None)  # the slot passes straight to it
                return
        self.free += 1

    def _forget(self, client: str, granted: asyncio.Future[None]) -> None:
        queue = self.waiting.get(client)
        if queue is not None and granted in queue:
            queue.remove(granted)
            if not queue:
                del self.waiting[client]
