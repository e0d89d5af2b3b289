"""CreateTrigramIndexes: the staff searches' indexes, built concurrently on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection

from leors.core.migration_operations import CreateTrigramIndexes

pytestmark = pytest.mark.django_db(transaction=True)  # CREATE INDEX CONCURRENTLY runs outside a transaction

OPERATION = CreateTrigramIndexes(table="cases_case", columns={"case_title_trgm": "title"})


def validity() -> bool | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('case_title_trgm')")
        row = cursor.fetchone()
    return None if row is None else bool(row[0])


def run(direction: str) -> None:
    with connection.schema_editor(atomic=False) as editor:
        getattr(OPERATION, f"database_{direction}")("cases", editor, None, None)


def test_an_index_left_invalid_by_a_failed_build_is_built_again() -> None:
    assert validity() is True  # made by cases.0009
    with connection.cursor() as cursor:  # what a cancelled CREATE INDEX CONCURRENTLY leaves behind
        cursor.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'case_title_trgm'::regclass")
    assert validity() is False
    run("forwards")
    assert validity() is True


def test_the_indexes_are_dropped_on_the_way_back_and_built_again() -> None:
    run("backwards")
    assert validity() is None
    run("forwards")
    assert validity() is True
    run("forwards")  # again: nothing to do
    assert validity() is True
