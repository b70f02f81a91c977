# The version-token table moved here from routing (routing 0002): state only, the table already exists.

import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [("routing", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ConfigVersion",
                    fields=[
                        ("key", models.CharField(max_length=32, primary_key=True, serialize=False)),
                        ("token", models.UUIDField(default=uuid.uuid4)),
                        ("changed_at", models.DateTimeField(auto_now=True)),
                    ],
                    options={"db_table": "routing_configversion"},
                ),
            ],
        ),
    ]
