from __future__ import annotations

from django.apps import AppConfig


class CasesConfig(AppConfig):
    """Legal requests and their lifecycle. Filled by the intake, clocks and recovery issues."""

    name = "cases"
    default_auto_field = "django.db.models.BigAutoField"
