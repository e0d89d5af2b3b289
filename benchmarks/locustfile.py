"""P4: officers browsing and sending requests, for locust (run by benchmarks/bench.py, `--only p4`).

Each simulated officer is a real officer of the benchmark database, signed in (a session prepared
by bench.py, with the second factor done), who reads the list of their cases, opens one, searches
by a wallet, and now and then sends a preservation request with an English PDF — one in five
twice with the same submission key, as a double click or a retried post would. bench.py then
counts, in the database, the requests that became two cases (duplicates) or none (lost).

Environment: P4_USERS (the JSON file bench.py wrote), P4_RUN (a tag in every title of this run).
"""

from __future__ import annotations

import json
import os
import random
import re
import uuid
from pathlib import Path
from typing import Any

from locust import HttpUser, between, task

USERS = json.loads(Path(os.environ["P4_USERS"]).read_text())
RUN = os.environ["P4_RUN"]
PDF = Path(USERS["pdf"]).read_bytes()
SENT = Path(USERS["sent"])
_next_user = iter(range(10**9))

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Officer(HttpUser):
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        me = USERS["officers"][next(_next_user) % len(USERS["officers"])]
        self.me = me
        # Signed in (second factor done) by bench.py. Production cookies are Secure (TLS only): on
        # plain loopback the client sends them itself, on every request, as a browser would over TLS.
        self.cookies = {"sessionid": me["session"]}

    def page(self, url: str, name: str, **params: Any) -> Any:
        """GET a page and count it only if it is the page itself: a redirect (to sign in) is a failure."""
        with self.client.get(url, params=params, name=name, cookies=self.cookies, allow_redirects=False,
                             catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"answered {response.status_code} {response.headers.get('Location', '')}")
            return response

    @task(5)
    def case_list(self) -> None:
        self.page("/cases/", "case list")

    @task(5)
    def case_page(self) -> None:
        self.page(f"/cases/{random.choice(self.me['cases'])}/", "case page")

    @task(2)
    def search(self) -> None:
        self.page("/cases/", "search by wallet", q=self.me["wallet"])

    @task(1)
    def send_request(self) -> None:
        form = self.page("/cases/new/", "new request form", type="preservation")
        token = CSRF.search(form.text)
        cookie = form.cookies.get("csrftoken")
        if token is None or cookie is None:
            return
        cookies = {**self.cookies, "csrftoken": cookie}
        key = uuid.uuid4().hex
        data: dict[str, Any] = {
            "csrfmiddlewaretoken": token.group(1),
            "submission_key": key, "request_type": "preservation",
            "title": f"{RUN} preservation of a wallet used in a fraud", "case_reference": f"OP-{key[:8]}",
            "request_text": "We are investigating a fraud in which victims were persuaded to send cryptocurrency "
                            "to the wallet listed below. We request the preservation of the account data "
                            "under the attached order.",
            "subjects-TOTAL_FORMS": "1", "subjects-INITIAL_FORMS": "0",
            "subjects-MIN_NUM_FORMS": "0", "subjects-MAX_NUM_FORMS": "50",
            "subjects-0-kind": "wallet", "subjects-0-value": self.me["wallet"], "subjects-0-chain": "",
            "documents-TOTAL_FORMS": "1", "documents-INITIAL_FORMS": "0",
            "documents-MIN_NUM_FORMS": "0", "documents-MAX_NUM_FORMS": "10",
            "documents-0-document_type": "preservation_letter",
            "documents-0-issuing_authority": "Crown Court at Southwark",
            "documents-0-document_reference": f"T{key[:8]}",
        }
        times = 2 if random.random() < 0.2 else 1
        for attempt in range(times):
            with self.client.post("/cases/new/", data=data, files={"documents-0-file": ("order.pdf", PDF,
                                                                                       "application/pdf")},
                                  name="send request" if attempt == 0 else "send request again (same key)",
                                  cookies=cookies, allow_redirects=False, catch_response=True) as response:
                if response.status_code == 302 and "/cases/LEORS-" in response.headers.get("Location", ""):
                    response.success()
                    with SENT.open("a") as sent:
                        sent.write(f"{self.me['user_id']} {key} {response.headers['Location']}\n")
                else:
                    response.failure(f"answered {response.status_code}, not a redirect to the new case")
