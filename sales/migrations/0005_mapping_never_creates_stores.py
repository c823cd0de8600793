"""The built-in "Online Retail" mapping no longer asks for stores to be created: an import creates a store
only when the person importing asks for it (issue #15). The import ignores the option on a mapping anyway;
this keeps what the admin shows true."""

from django.db import migrations


def forwards(apps, schema_editor):
    ColumnMapping = apps.get_model("sales", "ColumnMapping")
    for mapping in ColumnMapping.objects.all():
        if "create_stores" in (mapping.options or {}):
            mapping.options = {k: v for k, v in mapping.options.items() if k != "create_stores"}
            mapping.save(update_fields=["options"])


class Migration(migrations.Migration):
    dependencies = [("sales", "0004_rollup_change_log")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
