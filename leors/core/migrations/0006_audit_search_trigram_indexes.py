# Written by hand: indexes for the audit list's search, built on PostgreSQL only (see the operation).

from django.db import migrations

from leors.core.migration_operations import CreateTrigramIndexes


class Migration(migrations.Migration):

    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("core", "0005_audit_list_indexes"),
    ]

    operations = [
        CreateTrigramIndexes(table="core_auditevent", columns={
            "audit_repr_trgm": "object_repr",
            "audit_actor_trgm": "actor_label",
            "audit_object_id_trgm": "object_id",
        }),
    ]
