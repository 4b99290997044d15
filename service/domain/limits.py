"""Rate limits (token buckets per key or client IP) and admission control for ask/search."""
from __future__ import annotations

import asyncio
import math
import threading
import time


class TokenBuckets:
    """`rate_per_minute` tokens refill continuously up to `burst`; each request takes one."""

    def __init__(self, rate_per_minute: float, burst: int, max_clients: int = 100_000) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last refill)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, client: str, now: float | None = None) -> float:
        """0 when allowed, else the seconds to wait before a token is available."""
        if not self.enabled:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            if len(self._buckets) > self.max_clients:
                self._forget_full(now)
            return (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        refill = self.burst / self.rate
        for client, (_, last) in list(self._buckets.items()):
            if now - last > refill:
                del self._buckets[client]


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


class QueryGate:
    """At most `limit` ask/search requests admitted; the others wait up to `timeout` s for a slot."""

    def __init__(self, limit: int, timeout: float) -> None:
        self.limit, self.timeout = limit, timeout
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.in_flight = 0
        self.waiting = 0

    @property
    def saturated(self) -> bool:
        """Every slot taken and questions queued for one: a new question would wait too."""
        return self.in_flight >= self.limit and self.waiting > 0

    def _current(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:  # a new event loop (tests) gets its own
            self._semaphore, self._loop = asyncio.Semaphore(self.limit), loop
        return self._semaphore

    async def acquire(self) -> bool:
        semaphore = self._current()
        self.waiting += 1
        try:
            await asyncio.wait_for(semaphore.acquire(), self.timeout)
        except TimeoutError:
            return False
        finally:
            self.waiting -= 1
        self.in_flight += 1
        return True

    def release(self) -> None:
        self.in_flight -= 1
        if self._semaphore is not None:
            self._semaphore.release()
