"""allauth adapter: no self-service sign-up; accounts come from the application flow only (R1)."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Officers apply through /apply/ and are vetted; staff accounts are created by a legal lead.
        return False
