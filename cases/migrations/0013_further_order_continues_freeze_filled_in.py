# Written by hand on 2026-11-22: the index of 0012's column, built without locking, and the further orders
# already on file filled in.
#
# On PostgreSQL the partial index is built CONCURRENTLY (so atomic = False); a run stopped part-way can be
# run again (the operation keeps a built index and drops a cancelled one; the filling-in is idempotent).
# Few rows: each further order resolved as cases.services.clocks.freeze_case_continued does.

from django.db import migrations, models

from leors.core.migration_operations import AddIndexWithoutLocking


def fill_in(apps, schema_editor):
    Case = apps.get_model('cases', 'Case')
    Freeze = apps.get_model('cases', 'Freeze')
    for further in Case.objects.filter(request_type='freeze', extends_case__isnull=False).iterator():
        case, seen = Case.objects.get(pk=further.extends_case_id), set()
        while case.extends_case_id is not None and case.pk not in seen and not Freeze.objects.filter(case=case).exists():
            seen.add(case.pk)
            case = Case.objects.get(pk=case.extends_case_id)
        Case.objects.filter(pk=further.pk).update(continues_freeze_of=case)


class Migration(migrations.Migration):

    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ('cases', '0012_further_order_continues_freeze'),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name='case',
            index=models.Index(condition=models.Q(('continues_freeze_of__isnull', False)), fields=['continues_freeze_of'], name='case_continues_freeze_idx'),
        ),
        migrations.RunPython(fill_in, migrations.RunPython.noop, elidable=True),
    ]
