# Written by hand: indexes for the staff queue's search, built on PostgreSQL only (see the operation).

from django.db import migrations

from leors.core.migration_operations import CreateTrigramIndexes


class Migration(migrations.Migration):

    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("cases", "0008_feed_indexes"),
    ]

    operations = [
        CreateTrigramIndexes(table="cases_case", columns={
            "case_reference_trgm": "reference",
            "case_title_trgm": "title",
            "case_agency_ref_trgm": "case_reference",
        }),
        CreateTrigramIndexes(table="cases_subjectidentifier", columns={
            "subject_normalized_trgm": "normalized",
        }),
    ]
