"""REDCap's own Python client (PyCap 2.7.0) against a live server: the dictionary, imports
that are all or nothing, exports that give back what was imported, overwriteBehavior."""

from __future__ import annotations

import pytest
import semantic_version
from imports.helpers import RECORD, records
from redcap import Project
from redcap.request import RedcapError

from casereports.imports.models import ImportStatus, RowImport
from casereports.models import AuditEvent, Case
from casereports.services.dictionaries import dictionary_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def project(live_server, key_a):
    return Project(url=live_server.url + "/redcap/api/", token=key_a)


def test_pycap_reads_the_version_project_and_dictionary(project, core_version):
    dictionary = dictionary_of(core_version)

    assert project.export_version() == semantic_version.Version("14.5.0")
    info = project.export_project_info()
    assert info["is_longitudinal"] == 0 and info["record_autonumbering_enabled"] == 0
    assert project.is_longitudinal is False  # formEventMapping: REDCap's classic-project error
    metadata = project.export_metadata()
    assert [row["field_name"] for row in metadata] == [f.name for f in dictionary.fields]
    assert project.def_field == "secret_name"
    one = next(row for row in metadata if row["field_name"] == "covid19_has_symptoms")
    assert one["select_choices_or_calculations"] == "yes, Yes | no, No"
    assert one["required_field"] == "y" and one["form_name"] == "covid19"
    only = project.export_metadata(fields=["age_years"], forms=["comorbidities"])
    assert {row["form_name"] for row in only} == {"demographics", "comorbidities"}
    header = project.export_metadata(format_type="csv").splitlines()[0]
    assert header.startswith("field_name,form_name,section_header,field_type,field_label")
    names = project.export_field_names()
    assert names[0] == {
        "original_field_name": "secret_name",
        "choice_value": "",
        "export_field_name": "secret_name",
    }


def test_pycap_imported_records_export_under_their_own_names(project, site_a):
    sent = records(3)
    sent[1]["age_years"] = "61"

    assert project.import_records(sent) == {"count": 3}

    exported = {row["secret_name"]: row for row in project.export_records()}
    assert set(exported) == {"REG-0001", "REG-0002", "REG-0003"}
    assert exported["REG-0002"]["age_years"] == "61"
    assert exported["REG-0001"]["covid19_date_reporting"] == RECORD["covid19_date_reporting"]
    assert exported["REG-0001"]["report_source"] == "clinicians"
    picked = project.export_records(records=["REG-0002"], fields=["age_years"])
    assert picked == [{"secret_name": "REG-0002", "age_years": "61"}]
    as_csv = project.export_records(format_type="csv", forms=["demographics"])
    assert as_csv.splitlines()[0].startswith("secret_name,")
    assert len(as_csv.splitlines()) == 4

    again = records(3)
    again[1]["age_years"] = "61"
    again[2]["age_years"] = "70"  # one record changed, two as they were
    assert project.import_records(again, return_content="ids") == ["REG-0003"]
    assert Case.objects.get(site=site_a, registry_record="REG-0003").data["age_years"] == "70"
    jobs = RowImport.objects.filter(site=site_a, channel="redcap")
    assert [job.status for job in jobs] == [ImportStatus.DONE, ImportStatus.DONE]
    events = AuditEvent.objects.filter(channel="redcap", action="redcap.records_imported")
    assert [event.details["count"] for event in events.order_by("pk")] == [3, 1]


def test_pycap_one_bad_row_refuses_the_whole_import_and_writes_nothing(project, site_a):
    sent = records(3)
    sent[1]["age_years"] = "forty"

    with pytest.raises(RedcapError) as refused:
        project.import_records(sent)

    body = refused.value.args[0]
    assert set(body) == {"error"}
    line = next(line for line in body["error"].splitlines() if '"forty"' in line)
    assert line.startswith('"REG-0002","age_years","forty","')
    assert not Case.objects.filter(site=site_a).exists()
    job = RowImport.objects.get(site=site_a)
    assert job.status == ImportStatus.DISCARDED and job.channel == "redcap"
    assert job.counts["refused"] == 1 and job.report["refused"]
    assert project.export_records() == []


def test_pycap_overwrite_behavior_decides_whether_blanks_clear_values(project, site_a):
    project.import_records(records(1))
    stored = Case.objects.get(site=site_a, registry_record="REG-0001")
    assert stored.data["edss_value"] == "3.5"

    assert project.import_records(records(1, edss_value="")) == {"count": 0}
    stored.refresh_from_db()
    assert stored.data["edss_value"] == "3.5"  # normal: a blank leaves the value

    result = project.import_records(records(1, edss_value=""), overwrite="overwrite")
    assert result == {"count": 1}
    stored.refresh_from_db()
    assert stored.data["edss_value"] == ""  # overwrite: a blank clears it
    assert project.export_records(fields=["edss_value"])[0]["edss_value"] == ""
