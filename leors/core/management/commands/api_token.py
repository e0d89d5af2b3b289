from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from leors.core.audit import Actor
from leors.core.models import ApiToken
from leors.core.tokens import api_token_create, api_token_revoke


class Command(BaseCommand):
    help = "Create or revoke a bearer token for a machine client (the exchange's restriction feed reader)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["create", "revoke"])
        parser.add_argument("name", help="Who holds the token, e.g. exchange-enforcement")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor.system("system:manage.py api_token")
        now = timezone.now()
        if options["action"] == "create":
            if ApiToken.objects.filter(name=options["name"]).exists():
                raise CommandError(f"A token named {options['name']!r} exists; revoke it or choose another name.")
            token = api_token_create(name=options["name"], actor=actor, now=now)
            self.stdout.write(f"{token}\nStore it now: it is not shown again.")
        else:
            if not ApiToken.objects.filter(name=options["name"], revoked_at__isnull=True).exists():
                raise CommandError(f"No active token named {options['name']!r}.")
            api_token_revoke(name=options["name"], actor=actor, now=now)
            self.stdout.write(f"Token {options['name']!r} revoked.")
