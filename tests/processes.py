"""Real Celery processes for tests: a worker and beat against the suite's Redis and database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings


def suite_database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def celery_processes(workdir: Path, *, beat: bool = False, workers: int = 1, **extra_env: str) -> Iterator[Path]:
    """Start `workers` `celery worker` processes (and `celery beat`); stop them on exit.

    Yields the directory of their logs (celery-<n>.log; beat's is the last). The broker queue is
    purged first, so tasks queued by earlier tests (for rows that no longer exist) do not slow this one down.
    """
    env = {**os.environ, "DATABASE_URL": suite_database_url(), "LEORS_VAR_DIR": str(workdir / "var"), **extra_env}
    celery = [sys.executable, "-m", "celery", "-A", "leors"]
    subprocess.run([*celery, "purge", "-f"], cwd=settings.BASE_DIR, env=env, check=True,  # noqa: S603
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    commands = [[*celery, "worker", "--pool=solo", "--loglevel=INFO", "--without-heartbeat", "--without-gossip",
                 "--without-mingle", f"--hostname=worker{index}@%h"] for index in range(workers)]
    if beat:
        commands.append([*celery, "beat", "--loglevel=INFO", "--schedule", str(workdir / "beat-schedule")])
    logs, processes = [], []
    try:
        for index, command in enumerate(commands):
            log = (workdir / f"celery-{index}.log").open("w")
            logs.append(log)
            processes.append(subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=log,  # noqa: S603
                                              stderr=subprocess.STDOUT))
        yield workdir
    finally:
        stop(*processes, timeout=20)
        for log in logs:
            log.close()


def stop(*processes: subprocess.Popen[Any], timeout: float) -> None:
    """Ask every process to stop (SIGTERM, all at once); kill one that has not within `timeout` seconds."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def settings_in_child(expression: str, *, var_dir: Path, **environment: str) -> str:
    """`expression` over `s`, the project's settings imported in a child process with only
    `environment` set (beside PATH, PYTHONPATH and LEORS_VAR_DIR): settings are read at import, as a
    deployment reads them, so a test of their defaults must not inherit the suite's environment."""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(settings.BASE_DIR), "LEORS_VAR_DIR": str(var_dir),
           **environment}
    result = subprocess.run([sys.executable, "-c", f"import leors.settings as s; print({expression})"],  # noqa: S603
                            env=env, capture_output=True, text=True, check=True, cwd=settings.BASE_DIR)
    return result.stdout.strip()
