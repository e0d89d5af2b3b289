"""allauth adapter: no self-service sign-up (R1); allauth's own e-mails go through the outbox
and carry a LEORS reference and verification code like every other message (R12)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from django.conf import settings
from django.contrib.sites.shortcuts import get_current_site
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from leors.core.outbox import outbox_email_write, reference_issue


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Officers apply through /apply/ and are vetted; staff accounts are created by a legal lead.
        return False

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        # A sign-in refused by the cool-off never reaches Django's authentication (so no
        # user_login_failed): it is audited here, once.
        from django.core.exceptions import ValidationError

        from leors.core.signals import sign_in_refused_record

        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError:
            sign_in_refused_record(request=request, credentials=credentials)
            raise

    def get_reset_password_from_key_url(self, key: str) -> str:
        # Links in e-mails are built on the configured site address, never on the request's Host
        # header (which a client chooses).
        path = reverse("account_reset_password_from_key", kwargs={"uidb36": "UID", "key": "KEY"})
        return settings.LEORS_SITE_URL + path.replace("UID-KEY", quote(key))

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        now = timezone.now()
        request = allauth_context.request
        with transaction.atomic():
            reference = f"LEORS-ACC-{now:%Y}-{secrets.token_hex(4).upper()}"
            code = reference_issue(reference=reference, purpose=template_prefix.rsplit("/", 1)[-1], recipient=email,
                                   now=now)
            message = self.render_mail(
                template_prefix,
                email,
                {
                    "request": request,
                    "email": email,
                    "current_site": get_current_site(request),
                    **context,
                    "leors_reference": reference,
                    "leors_site_url": settings.LEORS_SITE_URL,
                    "leors_code": code,
                },
            )
            body = message.body if isinstance(message.body, str) else str(message.body)
            outbox_email_write(key=f"account:{reference}", to=email, subject=message.subject, body=body, now=now)
