"""The web process's server settings (gunicorn.conf.py): valid, and each worker ready before it serves."""

from __future__ import annotations

import os
import runpy
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from gunicorn.config import Config

from tests.processes import stop, suite_database_url

CONF = Path(settings.BASE_DIR) / "gunicorn.conf.py"


def _settings_of(conf: dict[str, Any]) -> dict[str, Any]:
    """What the file sets: its lower-case names that are not imports."""
    return {name: value for name, value in conf.items()
            if name.islower() and not name.startswith("_") and name not in {"os", "time", "annotations"}}


def test_every_name_in_gunicorn_conf_is_a_valid_gunicorn_setting() -> None:
    # gunicorn skips a name it does not know without a word, so a misspelt setting would do nothing.
    conf = _settings_of(runpy.run_path(str(CONF)))
    config = Config()
    unknown = sorted(set(conf) - set(config.settings))
    assert not unknown, f"not gunicorn settings: {unknown}"
    for name, value in conf.items():
        config.set(name, value)  # validates, as gunicorn does when it loads the file
    assert config.worker_class_str == "sync"
    assert config.accesslog is None  # URLs would hold what officers search for


def test_workers_follow_web_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "5")
    assert runpy.run_path(str(CONF))["workers"] == 5
    monkeypatch.delenv("WEB_CONCURRENCY")
    assert runpy.run_path(str(CONF))["workers"] == len(os.sched_getaffinity(0)) + 1
    for bad in ("many", "0", "-2", "\u0663"):
        monkeypatch.setenv("WEB_CONCURRENCY", bad)
        with pytest.raises(SystemExit, match=r"WEB_CONCURRENCY=.* is not a number of workers"):
            runpy.run_path(str(CONF))


def test_the_master_imports_nothing_of_leors() -> None:
    # A reload (HUP) forks workers from the master: what it imported, they would not import afresh.
    code = (f"import runpy, sys; runpy.run_path({str(CONF)!r}); "
            "print(sorted(name for name in sys.modules if name.split('.')[0] in ('leors', 'cases', 'django')))")
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,  # noqa: S603
                              cwd=settings.BASE_DIR).stdout.strip()
    assert imported == "[]"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_r4_each_gunicorn_worker_loads_the_language_detector_before_it_serves(tmp_path: Path) -> None:
    """A real gunicorn with the project's settings: the worker logs the detector's load, then answers."""
    # The test binds the port and hands gunicorn the socket (fd://): no other process can take it between.
    listener = socket.create_server(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])
    env = {**os.environ, "DATABASE_URL": suite_database_url(), "LEORS_VAR_DIR": str(tmp_path / "var"),
           "WEB_CONCURRENCY": "1"}
    gunicorn = Path(sys.executable).parent / "gunicorn"
    log_path = tmp_path / "gunicorn.log"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, whatever http_proxy says
    with log_path.open("w") as log, listener:
        server = subprocess.Popen([str(gunicorn), "leors.wsgi", "--bind", f"fd://{listener.fileno()}"],  # noqa: S603
                                  cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  pass_fds=(listener.fileno(),))
        try:
            status, deadline = None, time.monotonic() + 60
            while status is None and time.monotonic() < deadline and server.poll() is None:
                try:
                    with direct.open(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                        status = response.status
                except urllib.error.HTTPError as error:  # an answer, if not a healthy one: no point waiting
                    status = error.code
                except OSError:  # not answering yet (the socket listens from the start; the worker is loading)
                    time.sleep(0.3)
            loaded_before_serving = "Language detector loaded in" in log_path.read_text()
        finally:
            stop(server, timeout=45)
    output = log_path.read_text()
    assert status == 200, output
    assert loaded_before_serving, output
