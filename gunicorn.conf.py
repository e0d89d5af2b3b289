"""gunicorn's settings for LEORS's web process: `gunicorn leors.wsgi`, run in this folder, reads them.

Each worker loads the language detector (R4, lingua) before it serves its first request, so that no
officer's upload waits for it: the load takes 0.5–1.3 s and about 60 MB per worker (benchmarks, P3).
The detector is loaded in each worker, not once in a preloading master: lingua is native code, and
what a library set up before a fork is not safe to use after it.

Environment: WEB_CONCURRENCY (workers; default the cores this process may run on + 1, the best of the
load test on 2 cores, P4; set it in a container, whose CPU quota the default does not see: each worker
holds a database connection and the detector), GUNICORN_CMD_ARGS or the command line for anything else
(`--bind`, as behind the deployment's proxy). The master imports nothing of LEORS: a reload (HUP)
starts workers that import the code afresh.
"""

from __future__ import annotations

import os
import time
from typing import Any


def _workers() -> int:
    value = os.environ.get("WEB_CONCURRENCY", "").strip()
    if not value:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return cores + 1
    if not value.isascii() or not value.isdigit() or int(value) < 1:
        raise SystemExit(f"WEB_CONCURRENCY={value!r} is not a number of workers: give a whole number, 1 or more.")
    return int(value)


workers = _workers()
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
