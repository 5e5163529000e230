"""Load the model and the index in the background when the API starts.

Liveness answers at once; readiness (`/v1/ready`) says `model: loading` until the encoder is
loaded, one text has been through it and the published index is in memory, so the first
query a load balancer routes here does not pay for loading (the cold first search is a
known complaint about Immich, its issue #14539). A failure is logged and reported by
readiness; the first query then tries again and answers with the real error.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from pixseek.core.errors import IndexNotReady, PixseekError
from pixseek.search.service import SearchService

log = logging.getLogger(__name__)

# Goes through the text tower once, so its first real query is not the one that warms it.
WARM_UP_TEXT = "a photo"


class ModelWarmup:
    """One background load of the search service's model and index; its state for readiness."""

    def __init__(self, search: SearchService) -> None:
        self.search = search
        self._thread: threading.Thread | None = None
        self._error: str | None = None
        self._seconds: float | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._load, name="pixseek-warmup", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        start = time.perf_counter()
        try:
            encoder = self.search.encoder
            encoder.encode_texts([WARM_UP_TEXT])
            # The image tower image queries use: on OpenVINO this compiles (or first converts) it.
            encoder.runtime_label()
            with contextlib.suppress(IndexNotReady):  # nothing ingested yet: readiness says so
                self.search.loaded_index()
        except (PixseekError, OSError, RuntimeError, ValueError) as exc:
            # Logged with its message here; readiness names only the kind (no paths leave).
            log.error("api.warmup_failed error=%s: %s", type(exc).__name__, exc)
            self._error = type(exc).__name__
            return
        self._seconds = time.perf_counter() - start
        log.info("api.warmup_done seconds=%.2f", self._seconds)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the load ended (tests, benchmarks); whether it did within `timeout`."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def state(self) -> tuple[bool, str]:
        """(ready, what to say) for the readiness check `model`."""
        if self._thread is None:
            return True, "loads at the first query (PIXSEEK_PRELOAD_MODEL=false)"
        if self._error is not None:
            return False, f"failed to load ({self._error}); see the server log"
        if self._seconds is None:
            return False, "loading"
        return True, f"loaded in {self._seconds:.1f} s"
