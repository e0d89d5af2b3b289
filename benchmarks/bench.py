"""LEORS benchmarks: every measure printed as a ratio to a floor measured in the same run.

Run through `benchmarks/run` (which builds the database); by hand:
    DJANGO_SETTINGS_MODULE=leors.settings python -m benchmarks.bench --scale small

P1  server time (in-process, django.test.Client, full middleware stack) of the officer case list,
    the case page and the staff queue, against an empty page behind the same middleware for the
    same signed-in user; and the growth of that ratio from the small to the full database.
P2  the clock sweeps: a sweep with nothing due over every freeze/hold row, against a bare indexed
    query; and the throughput of lifting due freezes (projected to 100,000).
P3  intake of a 50-page English PDF (type check, hashing, language) and file_inspect of a 50 MB
    upload: time and peak memory growth, against hashing the same bytes with hashlib.

Absolute times drift on a shared 2-core machine; ratios measured in the same run do not (much).
Where a measure misses its target, EXPLAIN (ANALYZE, BUFFERS) of its slowest queries is written to
benchmarks/results/explain-<scale>.txt.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import logging
import multiprocessing
import os
import resource
import runpy
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import django

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    measure: str
    value: float
    baseline: float
    unit: str
    target: str
    passed: bool | None  # None: informative, no target
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")


@dataclass
class Report:
    scale: str
    rows: list[Row] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    explains: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        status = "" if row.passed is None else ("PASS" if row.passed else "MISS")
        print(f"  {row.measure:<58} {row.value:10.2f} {row.unit:<3} / {row.baseline:8.2f} = {row.ratio:7.2f}x  "
              f"{row.target:<16} {status} {row.note}", flush=True)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


# --- setup ------------------------------------------------------------------------------------------

def setup() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leors.settings")
    django.setup()
    from django.test.utils import override_settings

    # No setup_test_environment(): its template instrumentation (a context copy per rendered
    # template) would be timed too. The client needs only ALLOWED_HOSTS to hold "testserver".
    override_settings(ROOT_URLCONF="benchmarks.urls").enable()


def with_totp(user: Any) -> Any:
    """The user with a TOTP authenticator: the portal requires a second factor of every officer."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    from leors.access.models import User

    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, generate_totp_secret())
    return User.objects.get(pk=user.pk)


def bench_users() -> dict[str, Any]:
    """The signed-in people of the benchmark: an officer (5 own cases + 5 shared with them), their
    agency's supervisor (sees the agency's 500 cases through the group) and a legal lead (sees all)."""
    from django.contrib.auth.models import Group

    from leors.access.models import User
    from leors.access.services import GROUP_LEGAL_LEAD

    lead, created = User.objects.get_or_create(email="bench-lead@leors.example",
                                               defaults={"is_staff": True, "full_name": "Bench Lead"})
    if created:
        lead.set_unusable_password()
        lead.save()
        lead.groups.add(Group.objects.get(name=GROUP_LEGAL_LEAD))
    return {"officer": with_totp(User.objects.get(pk=2)), "supervisor": with_totp(User.objects.get(pk=1)),
            "lead": with_totp(lead)}


def client_for(user: Any) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(user, backend="leors.access.backends.AuthenticationBackend")
    return client


# --- EXPLAIN ----------------------------------------------------------------------------------------

def explain_slowest(report: Report, label: str, run: Callable[[], Any], top: int = 2) -> None:
    """Capture the queries of `run`, then EXPLAIN (ANALYZE, BUFFERS) the slowest SELECTs."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        run()
    selects = [q for q in captured.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    selects.sort(key=lambda q: float(q["time"]), reverse=True)
    summary = [f"{label}: {len(captured.captured_queries)} queries, slowest "
               + ", ".join(f"{float(q['time']) * 1000:.1f} ms" for q in selects[:top])]
    for query in selects[:top]:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            plan = "\n".join(row[0] for row in cursor.fetchall())
        summary.append(f"-- {float(query['time']) * 1000:.1f} ms\n{query['sql']}\n{plan}")
    report.explains.append("\n\n".join(summary))


# --- P1 ---------------------------------------------------------------------------------------------

# Measured beside P1 but outside its targets: the lists that grow with the trail and the clocks.
AUDIT_LIST = "audit list (staff; info)"
FEED_PAGE = "restriction feed page 1 (exchange API; info)"
FEED_DEEP = "restriction feed, the page after the middle one (its cursor; info)"
# The staff's searches: a wallet in the queue, a case's reference in the audit trail.
QUEUE_SEARCH = "staff queue search by wallet (info)"
AUDIT_SEARCH = "audit list search by case reference (info)"
INFO_PAGES = (AUDIT_LIST, FEED_PAGE, FEED_DEEP, QUEUE_SEARCH, AUDIT_SEARCH)
STAFF_QUEUE = "staff queue"
STAFF_PAGES = (STAFF_QUEUE, AUDIT_LIST, QUEUE_SEARCH, AUDIT_SEARCH)


def p1_pages(report: Report, users: dict[str, Any], repeat: int) -> None:
    from django.urls import reverse

    from cases.models import Case

    step(f"P1 server time of pages ({repeat} requests each, interleaved, after 5 warm-ups)")
    officer_case = Case.objects.filter(officer__user=users["officer"]).order_by("-pk").first()
    assert officer_case is not None
    wallet = officer_case.subjects.first().normalized  # type: ignore[union-attr]
    officer, supervisor, lead = (client_for(users[name]) for name in ("officer", "supervisor", "lead"))
    exchange = api_client(users["lead"])
    empty = reverse("bench_empty")
    pages: dict[str, tuple[Any, str]] = {
        "empty (officer)": (officer, empty),
        "empty (lead)": (lead, empty),
        "officer case list": (officer, reverse("cases:list")),
        "case page": (officer, reverse("cases:detail", args=[officer_case.reference])),
        "supervisor case list (500 cases, group perm)": (supervisor, reverse("cases:list")),
        "officer search by wallet": (officer, reverse("cases:list") + f"?q={wallet}"),
        STAFF_QUEUE: (lead, reverse("admin:cases_case_changelist")),
        AUDIT_LIST: (lead, reverse("admin:core_auditevent_changelist")),
        QUEUE_SEARCH: (lead, reverse("admin:cases_case_changelist") + f"?q={wallet}"),
        AUDIT_SEARCH: (lead, reverse("admin:core_auditevent_changelist") + f"?q={officer_case.reference}"),
        FEED_PAGE: (exchange, reverse("restriction_feed")),
        FEED_DEEP: (exchange, reverse("restriction_feed") + f"?after={_middle_of_the_feed()}"),
    }
    for client, url in pages.values():
        for _ in range(5):
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code, response.get("Location"))
    times: dict[str, list[float]] = {name: [] for name in pages}
    for _ in range(repeat):
        for name, (client, url) in pages.items():
            started = time.perf_counter()
            client.get(url)
            times[name].append((time.perf_counter() - started) * 1000)
    stats = {name: {"p50": percentile(t, 50), "p95": percentile(t, 95)} for name, t in times.items()}
    report.data["p1"] = stats
    for name, stat in stats.items():
        if name.startswith("empty"):
            continue
        base = stats[_empty_for(name)]
        report.add(Row(f"P1 {name} p50", stat["p50"], base["p50"], "ms", "info", None))
        ratio = stat["p95"] / base["p95"]
        if name in INFO_PAGES:
            report.add(Row(f"P1 {name} p95", stat["p95"], base["p95"], "ms", "info", None))
            continue
        report.add(Row(f"P1 {name} p95", stat["p95"], base["p95"], "ms", "p95 <= 2x empty", ratio <= 2.0))
        if ratio > 2.0:
            client, url = pages[name]
            explain_slowest(report, f"P1 {name} ({url})", lambda c=client, u=url: c.get(u))
    growth_against_small(report, stats)


def _middle_of_the_feed() -> str:
    """The cursor of the freeze in the middle of the feed: a walk's page as deep as the feed is half long."""
    from django.utils import timezone

    from cases.api import Cursor, in_feed_order

    freezes, _holds = in_feed_order(timezone.now())
    middle = freezes[freezes.count() // 2:].first()
    return str(Cursor.of(middle)) if middle else "f.0.0"


def growth_against_small(report: Report, stats: dict[str, dict[str, float]]) -> None:
    """Growth = (page/empty at full) / (page/empty at small): a ratio of ratios, so drift cancels."""
    if report.scale != "full":
        return
    # The newest small run that measured P1 (small.json, or small-p1….json of an --only run).
    runs = sorted(RESULTS.glob("small*.json"), key=lambda path: path.stat().st_mtime, reverse=True)
    small = next((data["p1"] for data in (json.loads(path.read_text())["data"] for path in runs) if "p1" in data),
                 None)
    if small is None:
        return
    for name, stat in stats.items():
        if name.startswith("empty") or name not in small:
            continue
        base = _empty_for(name)
        full_ratio = stat["p50"] / stats[base]["p50"]
        small_ratio = small[name]["p50"] / small[base]["p50"]
        growth = full_ratio / small_ratio
        report.add(Row(f"P1 growth 100k->1M cases: {name} (p50/empty)", full_ratio, small_ratio, "x",
                       *(("info", None) if name in INFO_PAGES else ("growth <= 1.2x", growth <= 1.2))))


def _empty_for(name: str) -> str:
    """The empty page a page is measured against: the staff's pages against the lead's."""
    return "empty (lead)" if name in STAFF_PAGES else "empty (officer)"


def api_client(user: Any) -> Any:
    """A client of the restriction feed as the exchange calls it: a bearer token, no session."""
    from django.db import transaction
    from django.test import Client
    from django.utils import timezone

    from leors.core.audit import Actor
    from leors.core.tokens import api_token_create

    with transaction.atomic():
        token = api_token_create(name=f"bench-{time.time_ns()}", actor=Actor(user=user), now=timezone.now())
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


# --- P2 ---------------------------------------------------------------------------------------------

def p2_sweeps(report: Report, *, due: int, cap_seconds: float) -> None:
    from django.conf import settings
    from django.db import connection, connections
    from django.utils import timezone

    from cases.models import Freeze, PreservationHold
    from cases.services import clocks

    step("P2 sweeps")
    rows = Freeze.objects.count() + PreservationHold.objects.count()
    now = timezone.now()

    def bare() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM cases_freeze WHERE status = 'active' AND expires_at <= %s "
                           "ORDER BY expires_at LIMIT 1", [now])
            cursor.fetchall()

    def timed(fn: Callable[[], Any], n: int) -> list[float]:
        fn()
        out = []
        for _ in range(n):
            started = time.perf_counter()
            fn()
            out.append((time.perf_counter() - started) * 1000)
        return out

    base = statistics.median(timed(bare, 50))
    parts = {
        "holds_lapse_due": lambda: clocks.holds_lapse_due(now=now),
        "freezes_lift_due": lambda: clocks.freezes_lift_due(now=now),
        "reminders_send_due": lambda: clocks.reminders_send_due(now=now),
    }
    for name, fn in parts.items():
        report.add(Row(f"P2 nothing due, {name} ({rows:,} clock rows) p50", statistics.median(timed(fn, 10)),
                       base, "ms", "info", None))
    sweep = timed(lambda: clocks.clocks_sweep(now=now), 20)
    sweep_p50 = statistics.median(sweep)
    report.data["p2_nothing_due_ms"] = sweep_p50
    report.add(Row(f"P2 nothing due, clocks_sweep over {rows:,} clock rows p50", sweep_p50, base, "ms",
                   "<= 20 ms", sweep_p50 <= 20))
    if sweep_p50 > 20:
        explain_slowest(report, "P2 clocks_sweep with nothing due", lambda: clocks.clocks_sweep(now=now), top=3)

    # What one lift costs in queries: 5 freezes made due and lifted, alone.
    from django.test.utils import CaptureQueriesContext

    with connection.cursor() as cursor:
        cursor.execute("UPDATE cases_freeze SET expires_at = %s WHERE id IN (SELECT id FROM cases_freeze "
                       "WHERE status = 'active' ORDER BY id DESC LIMIT 5)", [now - timedelta(minutes=1)])
    with CaptureQueriesContext(connection) as captured:
        lifted_alone = clocks.freezes_lift_due(now=timezone.now())
    per_lift = len(captured.captured_queries) / max(1, lifted_alone)
    report.data["p2_queries_per_lift"] = per_lift
    report.explains.append(f"P2 freezes_lift_due: {len(captured.captured_queries)} queries for {lifted_alone} "
                           f"lifts = {per_lift:.1f} queries per lift:\n"
                           + "\n".join(q["sql"][:200] for q in captured.captured_queries))

    # Due expiries: active freezes are made due now, then lifted by the sweep, batch after batch —
    # a tenth by one sweep process, then the rest as deployed: LEORS_SWEEP_WORKERS worker processes
    # lifting together (the beat's sweep asks for helpers when more than a batch is due).
    first = _make_due(max(1, due // 10), now)
    # The floor of the due sweep: the same status flip as one set-based UPDATE (rolled back).
    from django.db import transaction

    with transaction.atomic():
        floor_started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("UPDATE cases_freeze SET status = 'lifted', lifted_at = %s WHERE status = 'active' "
                           "AND expires_at <= %s", [now, now])
        floor_s = (time.perf_counter() - floor_started) * 100_000 / max(1, first)
        transaction.set_rollback(True)
    alone = _lift_until_done(cap_seconds)
    rate_alone = alone["lifted"] / alone["seconds"] if alone["seconds"] else 0.0
    report.add(Row("P2 due expiries lifted by one sweep process (per second)", rate_alone, 100_000 / floor_s, "/s",
                   "info", None, f"{alone['lifted']:,}/{first:,} in {alone['seconds']:.1f} s"))

    made_due = _make_due(due - first, now)
    workers = settings.LEORS_SWEEP_WORKERS
    connections.close_all()  # each forked process opens its own connection
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        drained = pool.map(_lift_until_done, [cap_seconds] * workers)
    elapsed = time.perf_counter() - started
    lifted, calls = int(sum(d["lifted"] for d in drained)), int(sum(d["calls"] for d in drained))
    rate = lifted / elapsed if elapsed else 0.0
    projected = 100_000 / rate if rate else float("inf")
    done = lifted >= made_due
    report.data["p2_due"] = {"made_due": first + made_due, "lifted_alone": alone["lifted"],
                             "per_second_alone": rate_alone, "workers": workers, "lifted": lifted,
                             "seconds": elapsed, "per_second": rate, "calls": calls,
                             "batch_size": settings.LEORS_SWEEP_BATCH_SIZE}
    note = (f"lifted {lifted:,}/{made_due:,} in {elapsed:.1f} s by {workers} processes ({rate:,.0f}/s, {calls} "
            f"calls, batches of {settings.LEORS_SWEEP_BATCH_SIZE}){'' if done else ', stopped at the time cap'}")
    report.add(Row("P2 100,000 due expiries lifted (projected from the rate)", projected, floor_s, "s", "<= 30 s",
                   projected <= 30, note + "; baseline: one set-based UPDATE"))


def _make_due(count: int, now: Any) -> int:
    """Make `count` more active freezes due (their end a minute before `now`)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE cases_freeze SET expires_at = %s WHERE id IN (SELECT id FROM cases_freeze "
                       "WHERE status = 'active' AND expires_at > %s ORDER BY id LIMIT %s)",
                       [now - timedelta(minutes=1), now, count])
        made_due = cursor.rowcount
        cursor.execute("ANALYZE cases_freeze")
    return made_due


def _lift_until_done(cap_seconds: float) -> dict[str, float]:
    """Run the freeze sweep until nothing is due (or the time cap): one worker process's share."""
    from django.utils import timezone

    from cases.services import clocks

    lifted, calls, started = 0, 0, time.perf_counter()
    while True:
        batch = clocks.freezes_lift_due(now=timezone.now())
        calls += 1
        lifted += batch
        if batch == 0 or time.perf_counter() - started > cap_seconds:
            break
    return {"lifted": lifted, "calls": calls, "seconds": time.perf_counter() - started}


# --- P3 ---------------------------------------------------------------------------------------------

def fifty_page_pdf() -> bytes:
    from fpdf import FPDF

    from tests.documents import ENGLISH_WARRANT

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for page in range(50):
        pdf.add_page()
        pdf.multi_cell(0, 6, f"Page {page + 1}. " + " ".join([ENGLISH_WARRANT] * 5))
    return bytes(pdf.output())


def measure(fn: Callable[[], Any]) -> tuple[float, float, float]:
    """(seconds, Python peak MB by tracemalloc, process peak RSS growth MB) of one call.

    Time is taken without tracemalloc (which slows Python code); memory in a second call with it.
    ru_maxrss only grows, so its growth is what this call added to the process's high-water mark."""
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    fn()
    seconds = time.perf_counter() - started
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 1024 / 1024, rss_growth


def _intake(content: bytes) -> str:
    """What intake does with a legal document: its type and hash, then the language of its text."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from cases.language import detect_document
    from cases.services.intake import language_status_of
    from leors.core.files import LEGAL_DOCUMENT_TYPES, file_inspect

    upload = SimpleUploadedFile("order-50-pages.pdf", content)
    inspected = file_inspect(upload, allowed=LEGAL_DOCUMENT_TYPES)
    return language_status_of(detect_document(upload, inspected.content_type))


def fresh_worker_first_intake(content: bytes) -> tuple[float, float, float, float]:
    """In a new process with the web application loaded, as a gunicorn worker has it: (start-up s, first
    intake s, start-up RSS growth MB, first intake RSS growth MB)."""
    setup()
    import leors.wsgi  # noqa: F401  (what a worker loads before post_worker_init)

    warm_up = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))["post_worker_init"]
    startup_s, _, startup_rss = measure(lambda: warm_up(SimpleNamespace(log=logging.getLogger("bench"))))
    first_s, _, first_rss = measure(lambda: _intake(content))
    return startup_s, first_s, startup_rss, first_rss


def p3_intake(report: Report) -> None:
    from django.core.files.uploadedfile import TemporaryUploadedFile
    from django.test.utils import override_settings

    from leors.core.files import LEGAL_DOCUMENT_TYPES, file_inspect

    step("P3 intake")
    content = fifty_page_pdf()

    def intake() -> str:
        return _intake(content)

    def sha_only() -> None:
        hashlib.sha256(content).hexdigest()

    # A worker of the web process loads the language detector before it serves (gunicorn.conf.py): its
    # start-up is timed on its own, then the first intake that worker serves — in a fresh process, as a
    # worker is, since what this one ran before (P1) changes how much its memory grows.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        startup_s, first_s, startup_rss, first_rss = pool.apply(fresh_worker_first_intake, (content,))
    assert intake() == "english"
    warm = [measure(intake) for _ in range(3)]
    warm_s = statistics.median(w[0] for w in warm)
    warm_py = max(w[1] for w in warm)
    base_s = statistics.median(measure(sha_only)[0] for _ in range(3))
    report.data["p3_pdf"] = {"bytes": len(content), "worker_startup_s": startup_s, "first_s": first_s,
                             "rss_growth_mb": startup_rss + first_rss, "warm_s": warm_s, "warm_python_peak_mb": warm_py}
    report.add(Row(f"P3 50-page PDF ({len(content) / 1024:.0f} KB) intake, warm", warm_s * 1000, base_s * 1000, "ms",
                   "<= 1 s", warm_s <= 1.0, "vs sha256 of the same bytes"))
    report.add(Row("P3 50-page PDF intake, first of a web worker (gunicorn.conf.py)", first_s * 1000, base_s * 1000,
                   "ms", "<= 1 s", first_s <= 1.0))
    report.add(Row("P3 web worker start-up: loading the language detector (info)", startup_s * 1000, base_s * 1000,
                   "ms", "info", None, "paid before the worker serves"))
    report.add(Row("P3 50-page PDF intake, Python peak (tracemalloc), warm", warm_py, 100, "MB", "< 100 MB",
                   warm_py < 100))
    report.add(Row("P3 50-page PDF intake, RSS growth of a fresh worker incl. detector load", startup_rss + first_rss, 100, "MB",
                   "< 100 MB", startup_rss + first_rss < 100))

    # 50 MB: Django streams an upload this size to a temporary file (FILE_UPLOAD_MAX_MEMORY_SIZE 2.5 MB).
    size = 50 * 1024 * 1024
    with tempfile.TemporaryDirectory() as folder, override_settings(FILE_UPLOAD_TEMP_DIR=folder,
                                                                    LEORS_UPLOAD_MAX_BYTES=size + 1):
        upload = TemporaryUploadedFile("big-scan.pdf", "application/pdf", size, None)
        upload.write(b"%PDF-1.4\n")
        block = os.urandom(1024 * 1024)
        while upload.tell() < size:
            upload.write(block[: size - upload.tell()])
        upload.flush()
        upload.seek(0)
        seconds, py_peak, rss = measure(lambda: file_inspect(upload, allowed=LEGAL_DOCUMENT_TYPES))

        def bare_hash() -> None:
            digest = hashlib.sha256()
            with open(upload.temporary_file_path(), "rb") as handle:
                for chunk in iter(lambda: handle.read(1024 * 1024), b""):
                    digest.update(chunk)

        base = statistics.median(measure(bare_hash)[0] for _ in range(3))
        upload.close()
    report.data["p3_50mb"] = {"seconds": seconds, "python_peak_mb": py_peak, "rss_growth_mb": rss}
    report.add(Row("P3 50 MB upload, file_inspect (type, hash)", seconds * 1000, base * 1000, "ms", "<= 1 s",
                   seconds <= 1.0, "vs sha256 of the file"))
    report.add(Row("P3 50 MB upload, file_inspect peak memory (max of tracemalloc, RSS)", max(py_peak, rss), 100,
                   "MB", "< 100 MB", max(py_peak, rss) < 100))
    from django.conf import settings

    report.data["upload_max_bytes_default"] = settings.LEORS_UPLOAD_MAX_BYTES


# --- P4 ---------------------------------------------------------------------------------------------

P4_OFFICERS = 50
P4_WORKERS = 3  # gunicorn.conf.py's default on 2 cores, fixed so that runs on other machines compare
P4_SECONDS = int(os.environ.get("BENCH_P4_SECONDS", "60"))
P4_PORT = int(os.environ.get("BENCH_P4_PORT", "8765"))


def p4_load(report: Report, *, seconds: int = P4_SECONDS) -> None:
    """50 officers (real accounts, signed in with their second factor) browse and send requests for
    60 s against gunicorn on loopback, driven by locust (benchmarks/locustfile.py)."""
    import csv
    import signal
    import subprocess
    import urllib.request

    from django.contrib.sessions.backends.db import SessionStore
    from django.test import Client

    from cases.models import Case
    from leors.access.models import Officer
    from tests.documents import ENGLISH_WARRANT, pdf_with_text

    step(f"P4 load: {P4_OFFICERS} officers for {seconds} s on gunicorn (locust, headless)")
    run_tag = f"P4-{int(time.time())}"
    work = Path(tempfile.mkdtemp(prefix="leors-p4-"))
    officers = []
    for officer in Officer.objects.select_related("user").filter(is_supervisor=False).order_by("pk")[1000:1000
                                                                                                  + P4_OFFICERS]:
        client = Client()
        client.force_login(with_totp(officer.user), backend="leors.access.backends.AuthenticationBackend")
        session = client.cookies["sessionid"].value
        assert SessionStore(session_key=session).exists(session)
        cases = list(Case.objects.filter(officer=officer).values_list("reference", flat=True)[:5])
        wallet = Case.objects.get(reference=cases[0]).subjects.first().normalized  # type: ignore[union-attr]
        officers.append({"user_id": officer.user_id, "session": session, "cases": cases, "wallet": wallet})
    (work / "order.pdf").write_bytes(pdf_with_text(ENGLISH_WARRANT))
    sent_file = work / "sent.txt"
    sent_file.touch()
    users_file = work / "users.json"
    users_file.write_text(json.dumps({"officers": officers, "pdf": str(work / "order.pdf"), "sent": str(sent_file)}))

    root = Path(__file__).resolve().parent.parent
    bin_dir = Path(sys.executable).parent
    server = subprocess.Popen(  # noqa: S603  (our own gunicorn, fixed arguments)
        [str(bin_dir / "gunicorn"), "leors.wsgi", "-c", str(root / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{P4_PORT}"],
        cwd=root, env={**os.environ, "WEB_CONCURRENCY": str(P4_WORKERS)},
        stdout=(work / "gunicorn.log").open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{P4_PORT}/healthz", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"gunicorn did not start: see {work / 'gunicorn.log'}") from None
                time.sleep(0.5)
        time.sleep(3)  # every worker up and warm (gunicorn.conf.py loads the language detector)
        locust = subprocess.run(  # noqa: S603  (the benchmark's own locust, fixed arguments)
            [os.environ.get("BENCH_LOCUST", str(bin_dir / "locust")), "-f", str(root / "benchmarks" / "locustfile.py"),
             "--headless",
             "-u", str(P4_OFFICERS), "-r", "25", "-t", f"{seconds}s", "--host", f"http://127.0.0.1:{P4_PORT}",
             "--csv", str(work / "p4"), "--only-summary", "--stop-timeout", "10", "--loglevel", "WARNING"],
            cwd=root, env={**os.environ, "P4_USERS": str(users_file), "P4_RUN": run_tag},
            capture_output=True, text=True, timeout=seconds + 120, check=False)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    print(locust.stdout[-3000:], locust.stderr[-3000:], sep="\n")

    with (work / "p4_stats.csv").open() as stats_file:
        stats = {row["Name"]: row for row in csv.DictReader(stats_file)}
    total = stats["Aggregated"]
    requests, failures = int(total["Request Count"]), int(total["Failure Count"])
    p95 = float(total["95%"])
    # Duplicates and losses, from the database: every key answered with a case must be exactly one case.
    answered: dict[str, set[str]] = {}
    for line in sent_file.read_text().splitlines():
        _user, key, location = line.split(" ", 2)
        answered.setdefault(key, set()).add(location)
    created = Counter(Case.objects.filter(title__startswith=run_tag).values_list("submission_key", flat=True))
    duplicates = sum(count - 1 for count in created.values() if count > 1) + sum(
        1 for locations in answered.values() if len(locations) > 1)
    lost = sum(1 for key in answered if key not in created)
    report.data["p4"] = {"requests": requests, "failures": failures, "p95_ms": p95, "duplicates": duplicates,
                         "lost": lost, "submissions": len(answered), "cases_created": sum(created.values()),
                         "per_page": {name: {"count": int(row["Request Count"]), "p50": float(row["50%"]),
                                             "p95": float(row["95%"]), "failures": int(row["Failure Count"])}
                                      for name, row in stats.items()},
                         "requests_per_second": float(total["Requests/s"]), "work_dir": str(work)}
    for name, row in stats.items():
        if name != "Aggregated":
            report.add(Row(f"P4 {name} p95 ({row['Request Count']} requests)", float(row["95%"]), float(row["50%"]),
                           "ms", "info (baseline: its p50)", None))
    report.add(Row(f"P4 errors of {requests:,} requests", failures, requests, "", "0", failures == 0))
    report.add(Row(f"P4 duplicates (of {len(answered)} requests sent, {sum(created.values())} cases)", duplicates,
                   max(1, len(answered)), "", "0", duplicates == 0 and lost == 0, f"lost: {lost}"))
    report.add(Row("P4 p95 of every request", p95, float(total["50%"]), "ms", "<= 250 ms", p95 <= 250,
                   f"{float(total['Requests/s']):.1f} requests/s; baseline: the median"))


# --- main -------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", choices=["small", "full"], default="small")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--due", type=int, default=None, help="freezes made due for P2 (default: 10%% of cases)")
    parser.add_argument("--sweep-cap", type=float, default=float(os.environ.get("BENCH_SWEEP_CAP", "120")),
                        help="stop lifting due freezes after this many seconds and project the rate")
    parser.add_argument("--only", default="p1,p2,p3,p4")
    args = parser.parse_args()
    setup()
    from django.db import connection

    from cases.models import Case, CaseDocument, CaseUserObjectPermission, Freeze, PreservationHold
    from leors.access.models import Officer

    report = Report(scale=args.scale)
    counts = {"cases": Case.objects.count(), "officers": Officer.objects.count(),
              "user object permissions": CaseUserObjectPermission.objects.count(),
              "documents": CaseDocument.objects.count(),
              "freezes + holds": Freeze.objects.count() + PreservationHold.objects.count()}
    report.data["counts"] = counts
    print("database:", ", ".join(f"{name} {value:,}" for name, value in counts.items()))
    with connection.cursor() as cursor:
        cursor.execute("SHOW shared_buffers")
        report.data["shared_buffers"] = cursor.fetchone()[0]
    only = set(args.only.split(","))
    users = bench_users()
    if "p1" in only:
        p1_pages(report, users, args.repeat)
    if "p3" in only:
        p3_intake(report)
    if "p4" in only:  # adds cases (tagged P4-<time>)
        p4_load(report)
    if "p2" in only:  # last: it changes the database (lifts freezes)
        p2_sweeps(report, due=args.due or max(1, counts["cases"] // 10), cap_seconds=args.sweep_cap)

    step(f"Results ({args.scale}: {counts['cases']:,} cases)")
    print(f"  {'measure':<70} {'value':>10} {'baseline':>10} {'ratio':>8}  {'target':<16} result")
    for row in report.rows:
        status = "-" if row.passed is None else ("PASS" if row.passed else "MISS")
        print(f"  {row.measure:<70} {row.value:>8.2f}{row.unit:<2} {row.baseline:>8.2f}{row.unit:<2} "
              f"{row.ratio:>7.2f}x  {row.target:<16} {status}")
    RESULTS.mkdir(exist_ok=True)
    name = args.scale if only == {"p1", "p2", "p3", "p4"} else f"{args.scale}-{'-'.join(sorted(only))}"
    (RESULTS / f"{name}.json").write_text(json.dumps(
        {"scale": args.scale, "rows": [{**asdict(r), "ratio": r.ratio} for r in report.rows], "data": report.data},
        indent=2, default=str))
    (RESULTS / f"explain-{name}.txt").write_text("\n\n".join(report.explains) + "\n")
    misses = [row.measure for row in report.rows if row.passed is False]
    print(f"\n{len(misses)} target(s) missed" + (": EXPLAIN evidence in " + str(RESULTS / f"explain-{name}.txt")
                                               if misses else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
