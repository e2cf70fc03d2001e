"""`manage.py load_dictionary`: versions, no-op reloads, --check, and clean refusals."""

import csv
import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from casereports.dictionary.model import HEADER
from casereports.models import DictionaryVersion
from casereports.services.dictionaries import dictionary_of

CORE = Path(__file__).resolve().parent.parent / "casereports" / "data" / "core_dataset_v1.csv"


def write_dictionary(path: Path, rows: list[dict[str, str]]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow([row.get(column, "") for column in HEADER])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def field(
    name: str, kind: str = "text", *, choices: str = "", validation: str = "", branching: str = ""
) -> dict[str, str]:
    return {
        "Variable / Field Name": name,
        "Form Name": "intake",
        "Field Type": kind,
        "Field Label": name,
        "Choices, Calculations, OR Slider Labels": choices,
        "Text Validation Type OR Show Slider Number": validation,
        "Branching Logic (Show field only if...)": branching,
    }


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("load_dictionary", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_the_core_dictionary_loads_once_and_reloading_is_a_no_op():
    first, _ = run(str(CORE))
    assert "loaded core version" in first
    assert DictionaryVersion.objects.count() == 1
    again, _ = run(str(CORE))
    assert "unchanged" in again
    assert DictionaryVersion.objects.count() == 1
    version = DictionaryVersion.objects.get()
    assert version.quality_rules_csv, "the quality rules beside the dictionary were not loaded"
    assert [f.name for f in dictionary_of(version).fields][:2] == [
        "secret_name",
        "covid19_date_reporting",
    ]


@pytest.mark.django_db
def test_writing_a_version_back_out_loads_to_the_same_version(tmp_path):
    run(str(CORE))
    version = DictionaryVersion.objects.get()
    written = tmp_path / "core_dataset_v1.csv"
    written.write_text(version.dictionary_csv, encoding="utf-8")
    (tmp_path / "core_dataset_v1_quality_rules.csv").write_text(
        version.quality_rules_csv, encoding="utf-8"
    )
    output, _ = run(str(written))
    assert "unchanged" in output
    assert DictionaryVersion.objects.count() == 1


@pytest.mark.django_db
def test_check_prints_a_summary_and_stores_nothing():
    output, _ = run(str(CORE), "--check")
    assert "forms:" in output
    assert "fields with branching logic:" in output
    assert "calculated fields:" in output
    assert "is valid (nothing stored)" in output
    assert DictionaryVersion.objects.count() == 0


@pytest.mark.django_db
def test_unsupported_features_are_refused_with_one_message_per_problem(tmp_path):
    path = write_dictionary(
        tmp_path / "broken.csv",
        [
            field("record_id"),
            field("lookup", "sql", choices="select value from redcap_data"),
            field("age", validation="integer", branching="[event-name] = 'baseline_arm_1'"),
            field("bmi", "calc", choices="var x = 1; return x;"),
            field("weight", branching="[event_1_arm_1][age] > 3"),
        ],
    )
    with pytest.raises(CommandError, match="4 problem"):
        run(str(path), "--check")
    _, errors = _capture_errors(path)
    lines = errors.strip().splitlines()
    assert len(lines) == 4
    assert "row 3 (lookup)" in lines[0] and "sql" in lines[0]
    assert "row 4 (age)" in lines[1] and "smart variable" in lines[1]
    assert "row 5 (bmi)" in lines[2] and "JavaScript" in lines[2]
    assert "row 6 (weight)" in lines[3] and "cross-event" in lines[3]
    assert DictionaryVersion.objects.count() == 0


@pytest.mark.django_db
def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run(str(tmp_path / "nope.csv"))


def _capture_errors(path: Path) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError):
        call_command("load_dictionary", str(path), "--check", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()
