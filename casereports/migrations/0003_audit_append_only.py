"""On PostgreSQL the audit table refuses UPDATE and DELETE, whoever asks (the hash chain in
`casereports.audit` detects changes made by someone who disables the trigger)."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION casereports_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'the audit trail is append-only: ' || TG_OP || ' is refused';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER casereports_auditevent_append_only
    BEFORE UPDATE OR DELETE ON casereports_auditevent
    FOR EACH ROW EXECUTE FUNCTION casereports_audit_append_only();
INSERT INTO casereports_audithead (id, last_hash, last_event_id, event_count)
    VALUES (1, repeat('0', 64), 0, 0) ON CONFLICT DO NOTHING;
"""
DROP = """
DROP TRIGGER IF EXISTS casereports_auditevent_append_only ON casereports_auditevent;
DROP FUNCTION IF EXISTS casereports_audit_append_only();
"""


def create_trigger(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)
    else:
        apps.get_model("casereports", "AuditHead").objects.get_or_create(pk=1)


def drop_trigger(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("casereports", "0002_cases_audit_tokens")]
    operations = [migrations.RunPython(create_trigger, drop_trigger)]
