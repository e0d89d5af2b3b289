"""gunicorn for the P4 load test (benchmarks/bench.py): sync workers, each warmed before it serves.

A production deployment can use the same hook: the language detector (lingua) takes a few hundred
milliseconds to load, which the first request of each worker would otherwise pay.
"""

from typing import Any

workers = 3
worker_class = "sync"
timeout = 60
accesslog = None


def post_worker_init(worker: Any) -> None:
    from cases.language import detect_text

    detect_text("Warm up the language detector of this worker before it serves a request.")
