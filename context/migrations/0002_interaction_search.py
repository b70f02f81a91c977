"""Full-text search over interactions, per database: an FTS5 table on SQLite, a tsvector table with a GIN
index on PostgreSQL; triggers on context_interaction keep either in sync (inserts, updates, deletes, and
on PostgreSQL a TRUNCATE). Words are indexed as context.text.search_terms cuts them: no stemming.

A later migration that makes SQLite rebuild context_interaction (most ALTERs) drops its triggers: recreate
them there.
"""

from django.db import migrations

TABLE = "context_interaction"

DDL = {
    "sqlite": [
        # External content: the text stays in context_interaction; FTS5 keeps only its index.
        f"""CREATE VIRTUAL TABLE {TABLE}_fts USING fts5(prompt, answer, content='{TABLE}', content_rowid='id',
            tokenize='unicode61 remove_diacritics 0')""",
        f"""CREATE TRIGGER {TABLE}_fts_insert AFTER INSERT ON {TABLE} BEGIN
            INSERT INTO {TABLE}_fts(rowid, prompt, answer) VALUES (new.id, new.prompt, new.answer); END""",
        f"""CREATE TRIGGER {TABLE}_fts_delete AFTER DELETE ON {TABLE} BEGIN
            INSERT INTO {TABLE}_fts({TABLE}_fts, rowid, prompt, answer)
            VALUES ('delete', old.id, old.prompt, old.answer); END""",
        f"""CREATE TRIGGER {TABLE}_fts_update AFTER UPDATE OF prompt, answer ON {TABLE} BEGIN
            INSERT INTO {TABLE}_fts({TABLE}_fts, rowid, prompt, answer)
            VALUES ('delete', old.id, old.prompt, old.answer);
            INSERT INTO {TABLE}_fts(rowid, prompt, answer) VALUES (new.id, new.prompt, new.answer); END""",
    ],
    "postgresql": [
        # A narrow table of its own: ranking reads each matching row's vector, and beside the texts it would
        # be TOASTed (compressed) and cost about twice as much per row. Stripped: ranking needs no positions.
        f"""CREATE TABLE {TABLE}_search (
            interaction_id bigint PRIMARY KEY,
            api_key_prefix varchar(32) NOT NULL,
            profile varchar(64) NOT NULL,
            conversation_id bigint NOT NULL,
            search tsvector NOT NULL)""",
        f"CREATE INDEX {TABLE}_search_gin ON {TABLE}_search USING gin (search)",
        f"""CREATE FUNCTION {TABLE}_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' THEN
                    DELETE FROM {TABLE}_search WHERE interaction_id = OLD.id;
                    RETURN OLD;
                END IF;
                INSERT INTO {TABLE}_search (interaction_id, api_key_prefix, profile, conversation_id, search)
                VALUES (NEW.id, NEW.api_key_prefix, NEW.profile, NEW.conversation_id,
                        strip(to_tsvector('simple', NEW.prompt || ' ' || NEW.answer)))
                ON CONFLICT (interaction_id) DO UPDATE SET search = EXCLUDED.search;
                RETURN NEW;
            END $$""",
        f"""CREATE TRIGGER {TABLE}_search_sync AFTER INSERT OR UPDATE OF prompt, answer OR DELETE ON {TABLE}
            FOR EACH ROW EXECUTE FUNCTION {TABLE}_search_sync()""",
        f"""CREATE FUNCTION {TABLE}_search_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN TRUNCATE {TABLE}_search; RETURN NULL; END $$""",
        f"""CREATE TRIGGER {TABLE}_search_truncate AFTER TRUNCATE ON {TABLE}
            FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_search_truncate()""",
    ],
}

DROP = {
    "sqlite": [
        f"DROP TRIGGER IF EXISTS {TABLE}_fts_insert",
        f"DROP TRIGGER IF EXISTS {TABLE}_fts_delete",
        f"DROP TRIGGER IF EXISTS {TABLE}_fts_update",
        f"DROP TABLE IF EXISTS {TABLE}_fts",
    ],
    "postgresql": [
        f"DROP TRIGGER IF EXISTS {TABLE}_search_truncate ON {TABLE}",
        f"DROP TRIGGER IF EXISTS {TABLE}_search_sync ON {TABLE}",
        f"DROP FUNCTION IF EXISTS {TABLE}_search_truncate()",
        f"DROP FUNCTION IF EXISTS {TABLE}_search_sync()",
        f"DROP TABLE IF EXISTS {TABLE}_search",
    ],
}


def _run(statements):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor not in statements:
            raise RuntimeError(f"context: full-text search is built for SQLite and PostgreSQL, not {vendor}")
        for sql in statements[vendor]:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("context", "0001_initial")]

    operations = [migrations.RunPython(_run(DDL), _run(DROP))]
