"""Staff workspace for cases (placeholder: being built)."""

from __future__ import annotations

from django.contrib import admin

from cases.models import Case


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    pass
