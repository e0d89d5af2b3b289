"""One agency per country and name whatever the case: the constraint compares Lower(name), as the
approval's look-up does (services.agency_named).

Agencies whose names differ only in case could exist before (two approvals of one new body at the
same moment, spelt differently). The constraint cannot be built over them, and merging agencies
(officers, cases, permissions) is for a person to decide, not a migration: each such agency but the
oldest keeps its row and everything on it, and its name gets " (agency #<id>)" so that the names
differ. The renamed agencies are printed for the operator.

On PostgreSQL the new unique index is built CONCURRENTLY under a name of its own (approvals go on
meanwhile), then the old constraint is dropped and the new index takes its name; a run stopped
part-way is simply run again. On SQLite (the demo), the same change plainly.
"""

from django.db import migrations, models
from django.db.models import Count, Min
from django.db.models.functions import Lower

from leors.core.migration_operations import _drop_if_invalid

NAME = "agency_unique_name_per_country"
BUILDING = f"{NAME}_new"
OLD = models.UniqueConstraint(fields=["country", "name"], name=NAME)
NEW = models.UniqueConstraint(Lower("name"), models.F("country"), name=NAME)
_NAME_MAX_LENGTH = 200


def agency_names_made_distinct(apps, schema_editor):
    Agency = apps.get_model("access", "Agency")
    named = Agency.objects.using(schema_editor.connection.alias).annotate(lower_name=Lower("name"))
    clashes = list(named.values("country", "lower_name").annotate(count=Count("pk"), oldest=Min("pk"))
                   .filter(count__gt=1).order_by("oldest"))  # read before any is renamed
    for clash in clashes:
        for agency in (named.filter(country=clash["country"], lower_name=clash["lower_name"])
                       .exclude(pk=clash["oldest"]).order_by("pk")):
            suffix = f" (agency #{agency.pk})"
            renamed = agency.name[:_NAME_MAX_LENGTH - len(suffix)] + suffix
            print(f"\n  access.0004: agency #{agency.pk} {agency.name!r} ({agency.country}) renamed {renamed!r}: "
                  f"its name differs only in case from agency #{clash['oldest']}'s; merge them by hand if one body.")
            Agency.objects.using(schema_editor.connection.alias).filter(pk=agency.pk).update(name=renamed)


def _is_case_blind(schema_editor):
    """Whether `NAME` is already the new index (a run stopped after renaming it, before being recorded)."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [NAME])
        row = cursor.fetchone()
    return bool(row and "lower(" in row[0].lower())


def constraint_made_case_blind(apps, schema_editor):
    Agency = apps.get_model("access", "Agency")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.remove_constraint(Agency, OLD)
        schema_editor.add_constraint(Agency, NEW)
        return
    if _is_case_blind(schema_editor):
        return
    table, quote = schema_editor.quote_name(Agency._meta.db_table), schema_editor.quote_name
    if not _drop_if_invalid(schema_editor, BUILDING):
        schema_editor.execute(f'CREATE UNIQUE INDEX CONCURRENTLY {quote(BUILDING)} ON {table} ((LOWER("name")), "country")')
    schema_editor.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {quote(NAME)}")
    schema_editor.execute(f"ALTER INDEX {quote(BUILDING)} RENAME TO {quote(NAME)}")


def constraint_made_case_sensitive_again(apps, schema_editor):
    Agency = apps.get_model("access", "Agency")
    schema_editor.remove_constraint(Agency, NEW)
    schema_editor.add_constraint(Agency, OLD)


class Migration(migrations.Migration):

    atomic = False  # CREATE UNIQUE INDEX CONCURRENTLY

    dependencies = [
        ("access", "0003_knowndevice"),
    ]

    operations = [
        migrations.RunPython(agency_names_made_distinct, migrations.RunPython.noop, atomic=True),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(constraint_made_case_blind, constraint_made_case_sensitive_again)],
            state_operations=[
                migrations.RemoveConstraint(model_name="agency", name=NAME),
                migrations.AddConstraint(model_name="agency", constraint=NEW),
            ],
        ),
    ]
