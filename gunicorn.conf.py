"""gunicorn's settings for LEORS's web process: `gunicorn leors.wsgi`, run in this folder, reads them.

Each worker loads the language detector (R4, lingua) before it serves its first request, so that no
officer's upload waits for it: the load takes 0.5–1.3 s and about 60 MB per worker (benchmarks, P3).
The detector is loaded in each worker, not once in a preloading master: lingua is native code, and
what a library set up before a fork is not safe to use after it.

Environment: WEB_CONCURRENCY (workers; default cores + 1, the best of the load test on 2 cores, P4),
GUNICORN_CMD_ARGS or the command line for anything else (`--bind`, as behind the deployment's proxy).
"""

from __future__ import annotations

import os
import time
from typing import Any

from leors.env import env_int

workers = env_int("WEB_CONCURRENCY", (os.cpu_count() or 1) + 1, minimum=1)
worker_class = "sync"
# An upload of the largest allowed size is hashed, sniffed and scanned inside its request.
timeout = 60
graceful_timeout = 30
# No access log: its URLs would hold what officers search for (wallets, names, references). The audit
# trail records what was seen and done.
accesslog = None


def post_worker_init(worker: Any) -> None:
    from cases.language import detect_text

    started = time.perf_counter()
    detect_text("Load the language detector in this worker before it serves its first request.")
    worker.log.info("Language detector loaded in %.0f ms", (time.perf_counter() - started) * 1000)
