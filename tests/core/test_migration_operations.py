"""LEORS's migration operations: indexes built and dropped without locking their tables on PostgreSQL
(CONCURRENTLY), and plainly on the demo's SQLite."""

from __future__ import annotations

import io
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, migrations, models
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState

from leors.core.migration_operations import AddIndexWithoutLocking, CreateTrigramIndexes

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


# --- AddIndexWithoutLocking / RemoveIndexWithoutLocking: B-tree indexes of the models -----------------

TEST_INDEX = models.Index(fields=["status", "case"], name="freeze_test_without_locking")


def _states(operation: Any) -> tuple[ProjectState, ProjectState]:
    before = MigrationLoader(connection).project_state()
    after = before.clone()
    operation.state_forwards("cases", after)
    return before, after


def _run(operation: Any, direction: str) -> None:
    before, after = _states(operation)
    with connection.schema_editor(atomic=False) as editor:
        if direction == "forwards":
            operation.database_forwards("cases", editor, before, after)
        else:
            operation.database_backwards("cases", editor, after, before)


def _validity_of(name: str) -> bool | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [name])
        row = cursor.fetchone()
    return None if row is None else bool(row[0])


@pytest.fixture
def test_index() -> Iterator[models.Index]:
    yield TEST_INDEX
    with connection.cursor() as cursor:  # a flush keeps indexes: one left would change later plan tests
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {connection.ops.quote_name(TEST_INDEX.name)}")


def test_an_index_added_without_locking_runs_again_over_what_a_run_stopped_part_way_left(
        test_index: models.Index) -> None:
    operation = AddIndexWithoutLocking(model_name="freeze", index=test_index)
    _run(operation, "forwards")
    assert _validity_of(test_index.name) is True
    # A run stopped after this step (its index built, the migration not yet recorded) is run again.
    _run(operation, "forwards")  # Django's own AddIndexConcurrently fails here: "already exists"
    assert _validity_of(test_index.name) is True
    with connection.cursor() as cursor:  # what a cancelled CREATE INDEX CONCURRENTLY leaves behind
        cursor.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass", [test_index.name])
    _run(operation, "forwards")
    assert _validity_of(test_index.name) is True
    _run(operation, "backwards")
    assert _validity_of(test_index.name) is None


def test_r7_r8_the_sweeps_due_index_is_replaced_without_locking_the_clock_tables() -> None:
    """cases.0011 on PostgreSQL: each new due index is built CONCURRENTLY while the old one still serves
    the sweep, the old one is dropped CONCURRENTLY, then the new one takes its name. A plain CREATE
    INDEX would keep every freeze, lift and hold waiting while a million-row table is indexed."""
    assert MigrationLoader(connection).disk_migrations[("cases", "0011_clock_due_index_in_the_sweeps_order")] \
        .atomic is False
    out = io.StringIO()
    call_command("sqlmigrate", "cases", "0011", stdout=out)
    statements = [line for line in out.getvalue().splitlines() if line and not line.startswith("--")]
    index_statements = [line for line in statements if re.match(r"(CREATE|DROP) INDEX", line)]
    assert len(index_statements) == 4
    assert all(" CONCURRENTLY " in line for line in index_statements), index_statements
    for table, name in (("cases_freeze", "freeze_status_due"), ("cases_preservationhold", "hold_status_due")):
        built = statements.index(f'CREATE INDEX CONCURRENTLY "{name}_new" ON "{table}" ("status", "expires_at", "id");')
        dropped = statements.index(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}_idx";')
        renamed = statements.index(f'ALTER INDEX "{name}_new" RENAME TO "{name}_idx";')
        assert built < dropped < renamed


def test_the_demo_database_migrates_with_the_plain_operations(tmp_path: Path) -> None:
    """SQLite has no CONCURRENTLY: the demo's first `migrate` takes the plain AddIndex and RemoveIndex,
    and ends with the same due indexes."""
    database = tmp_path / "demo.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "DEBUG": "true", "LEORS_VAR_DIR": str(tmp_path)}
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput"], ["migrate", "cases", "0010", "--noinput"], ["migrate", "--noinput"]):
        subprocess.run([*manage, *command], cwd=settings.BASE_DIR, env=env, check=True,  # noqa: S603
                       capture_output=True, timeout=300)
    with sqlite3.connect(database) as sqlite:
        indexes = dict(sqlite.execute("SELECT name, sql FROM sqlite_master WHERE name LIKE '%status_due%'").fetchall())
    assert indexes["freeze_status_due_idx"].endswith('("status", "expires_at", "id")')
    assert indexes["hold_status_due_idx"].endswith('("status", "expires_at", "id")')
    assert not [name for name in indexes if name.endswith("_new")]


# Migrations written before these operations existed, already applied: their indexes were built plainly.
BUILT_PLAINLY = {("access", "0001_initial"), ("core", "0001_initial"), ("core", "0004_status_due_indexes"),
                 ("core", "0005_audit_list_indexes"), ("cases", "0001_initial"),
                 ("cases", "0003_freeze_preservationhold_reminder_and_more"),
                 ("cases", "0004_case_on_hold_at_case_on_hold_reason"), ("cases", "0006_scale_indexes"),
                 ("cases", "0007_status_due_indexes"), ("cases", "0008_feed_indexes")}


def _indexes(field: Any) -> bool:
    """Whether the column gets an index of its own: `db_index` (a foreign key's default) or `unique`."""
    return bool(field.db_index or field.unique)


def _builds_an_index(operation: Any, state: ProjectState, app: str, created: set[str]) -> str | None:
    """What `operation` would index on a table that exists before its migration, or None."""
    model = (getattr(operation, "model_name", None) or getattr(operation, "name", "")).lower()
    if (app, model) not in state.models or model in created:
        return None  # the table is new: nothing waits on it
    if type(operation) in (migrations.AddIndex, migrations.RemoveIndex):
        return operation.describe()
    if isinstance(operation, migrations.AddField) and _indexes(operation.field):
        return f"{operation.describe()} with an index"
    if isinstance(operation, migrations.AlterField) and _indexes(operation.field):
        old = state.models[app, model].fields[operation.name]
        if not _indexes(old) or operation.field.unique != old.unique:
            return f"{operation.describe()} with a new index"
    if isinstance(operation, migrations.AddConstraint) and isinstance(operation.constraint, models.UniqueConstraint):
        return f"{operation.describe()} (a unique index)"
    if isinstance(operation, (migrations.AlterUniqueTogether, migrations.AlterIndexTogether)):
        old_sets = state.models[app, model].options.get(operation.option_name, set())
        if set(operation.option_value or ()) - set(old_sets):
            return f"{operation.describe()} (an index)"
    return None


def test_a_new_index_on_an_existing_table_is_built_without_locking_it() -> None:
    """`makemigrations` writes a plain AddIndex, which keeps every write to the table waiting while the
    index is built: minutes on the case, clock or audit tables at a global exchange's volume. A
    migration that indexes a table it does not create uses AddIndexWithoutLocking (and
    RemoveIndexWithoutLocking), with `atomic = False`. The same holds for an index a field or a constraint
    brings with it: a new foreign key, `db_index`/`unique` added to a field, a unique constraint."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    on_disk = loader.disk_migrations
    assert BUILT_PLAINLY - set(on_disk) == set()  # the list names migrations that exist
    plain = []
    for (app, name), migration in on_disk.items():
        if app not in {"access", "cases", "core"} or (app, name) in BUILT_PLAINLY:
            continue
        state = loader.project_state((app, name), at_end=False)
        created = {operation.name.lower() for operation in migration.operations
                   if isinstance(operation, migrations.CreateModel)}
        for operation in migration.operations:
            built = _builds_an_index(operation, state, app, created)
            if built is not None:
                plain.append(f"{app}.{name}: {built}")
            operation.state_forwards(app, state)
    assert plain == [], (
        "declare the field with db_index=False and add its index with leors.core.migration_operations."
        "AddIndexWithoutLocking (RemoveIndexWithoutLocking to drop one); for a unique one, CREATE UNIQUE INDEX "
        "CONCURRENTLY, then ADD CONSTRAINT … UNIQUE USING INDEX, in SeparateDatabaseAndState")
