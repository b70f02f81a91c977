# ConfigVersion now belongs to the shared core (core.ConfigVersion); its table stays where it is.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("routing", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="ConfigVersion")]),
    ]
