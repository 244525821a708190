"""Garbage-collector policy for a server holding thousands of long-lived WebSocket connections.

Python's cyclic collector walks every tracked object of the generations it collects. Each
connection keeps a few hundred objects alive for hours, so with 2,000 chargers a full (gen 2) pass
took 300 ms and a gen-1 pass up to 170 ms, on the event loop: the p99 of every charger waiting
then. Measured on the fleet benchmark (2,000 chargers, one call each 5 s).

So the objects that outlive a burst of connections are moved out of the collector's sight
(``gc.freeze()``): after start-up, every FREEZE_EVERY connections while they arrive, and again
once they stop arriving for a moment. Frozen
objects are still freed by reference counting; only garbage *cycles* among them wait, until enough
connections have gone that a reclaiming pass is worth its pause: ``gc.unfreeze()``, one full
collection, ``gc.freeze()`` again (rare, logged with its duration).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

logger = logging.getLogger(__name__)

THRESHOLDS = (10_000, 10, 10)
CHECK_SECONDS = 2.0
QUIET_SECONDS = 1.0  # no new connection for this long: freeze what the burst left
# Within a burst, what this many new connections made is frozen without a pass first: in a boot
# storm of 5,000 chargers the collector walked the new connections' objects, all alive, ten times
# a second (passes of 8-18 ms, some of 40-120 ms and one of 0.7 s over older ones). Freezing is
# O(1); the few garbage cycles it may keep wait for the next reclaiming pass (a full pass after a
# storm of 5,000 found 65 objects). Measured gain: within the noise (storm 8.0-8.7 s with it,
# 8.0-9.0 s without, alternating runs).
FREEZE_EVERY = 100
RECLAIM_AFTER_GONE = 1000  # disconnections since the last full pass that justify one


class GcPolicy:
    def __init__(self) -> None:
        self.new = 0  # connections since the last freeze
        self.gone = 0  # disconnections since the last reclaiming pass
        self.last_connect = 0.0
        self.task: asyncio.Task[None] | None = None
        self.tuned = False

    def tune(self) -> None:
        """Freeze start-up's objects and raise the thresholds, once, as the server loads its
        application (``csms.asgi``): before the first connection. A boot storm's handshakes all
        arrive while the first connection still clears stale presence (``_process_start``);
        under the default thresholds the collector walked them over and over meanwhile."""
        if not self.tuned:
            gc.freeze()
            gc.set_threshold(*THRESHOLDS)
            self.tuned = True

    def start(self) -> None:
        """At the process's first connection: tune (if the application did not), start watching."""
        self.tune()
        self.task = asyncio.get_running_loop().create_task(self._watch())

    def connected(self) -> None:
        self.new += 1
        self.last_connect = time.monotonic()
        if self.new % FREEZE_EVERY == 0:
            gc.freeze()

    def disconnected(self) -> None:
        self.gone += 1

    def step(self, now: float) -> str:
        """One check; returns what it did ("freeze", "reclaim" or "")."""
        if self.gone >= RECLAIM_AFTER_GONE:
            started = time.perf_counter()
            gc.unfreeze()
            collected = gc.collect()
            gc.freeze()
            self.gone = self.new = 0
            logger.info("gc: reclaimed %d objects in %.0f ms", collected, (time.perf_counter() - started) * 1000)
            return "reclaim"
        if self.new and now - self.last_connect >= QUIET_SECONDS:
            gc.collect(1)  # young garbage goes before its survivors are frozen
            gc.freeze()
            self.new = 0
            return "freeze"
        return ""

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            try:
                self.step(time.monotonic())
            except Exception:  # the policy must never stop the server
                logger.exception("gc policy step failed")


policy = GcPolicy()
