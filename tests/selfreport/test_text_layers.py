"""Text layers: checked against the dictionary row by row, looked up with fallback, stale rows
found, and the shipped layers complete (what `manage.py text_layers --check` enforces)."""

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from casereports.dictionary.shipped import core_dictionary
from casereports.textlayers import (
    LayerName,
    TextLayerError,
    Texts,
    coverage,
    layer_files,
    read_layer,
    template_rows,
)

SHIPPED = Path(__file__).resolve().parents[2] / "casereports" / "data" / "text_layers"
HEADER = "variable,element,code,source,text\n"


@pytest.fixture(scope="module")
def dictionary():
    return core_dictionary().dictionary


def layer(dictionary, rows: str, name: str = "es"):
    return read_layer(HEADER + rows, dictionary, LayerName.parse(name))


def test_an_unknown_variable_or_code_is_refused_naming_the_row(dictionary):
    with pytest.raises(TextLayerError) as refused:
        layer(
            dictionary,
            "sex,label,,Sex,Sexo\n"
            "no_such_field,label,,X,Y\n"
            "sex,choice,dragon,Dragon,Dragón\n"
            "sex,colour,,Sex,Sexo\n"
            "sex,label,,Sex,Sexo\n",
        )
    problems = refused.value.problems
    assert problems == [
        "layer row 3: unknown variable 'no_such_field'",
        "layer row 4: unknown code 'dragon' for sex (its codes: female, male, non-binary)",
        "layer row 5: unknown element 'colour' "
        "(one of label, note, section_header, choice, form, unit)",
        "layer row 6: sex label appears twice",
    ]


def test_a_bad_header_and_an_empty_text_are_refused(dictionary):
    with pytest.raises(TextLayerError, match="the header must be"):
        read_layer("name,text\nsex,Sexo\n", dictionary, LayerName("es"))
    with pytest.raises(TextLayerError, match="row 2: the text is empty"):
        layer(dictionary, "sex,label,,Sex,\n")


def test_lookup_falls_back_audience_language_then_language_then_base(dictionary):
    sex = dictionary.field("sex")
    symptoms = dictionary.field("covid19_has_symptoms")
    spanish = layer(
        dictionary,
        "sex,label,,Sex,Sexo\n"
        "covid19_has_symptoms,label,,Did the person have symptoms of COVID-19?,¿Tuvo síntomas?\n",
    )
    spanish_patients = layer(
        dictionary, "sex,label,,What is your sex?,¿Cuál es su sexo?\n", "es.patients"
    )
    patients = Texts(dictionary, "es", "patients", [spanish, spanish_patients])
    assert patients.label(sex) == "¿Cuál es su sexo?"  # audience + language
    clinicians = Texts(dictionary, "es", "clinicians", [spanish, spanish_patients])
    assert clinicians.label(sex) == "Sexo"  # language
    assert clinicians.label(dictionary.field("ms_type")) == "Type of MS"  # base
    # A patient's label missing from the patients' layer comes from the language's layer.
    assert patients.label(symptoms) == "¿Tuvo síntomas?"
    # And with no Spanish at all, the patients' own English base text.
    assert Texts(dictionary, "es", "patients").label(sex) == "What is your sex?"


def test_a_row_whose_base_text_changed_is_stale_reported_and_not_shown(dictionary):
    old = layer(dictionary, "sex,label,,Gender,Género\nweight,label,,Weight,Peso\n")
    report = coverage(old, dictionary)
    assert report.stale == [("sex", "label", "")]
    assert not report.complete
    texts = Texts(dictionary, "es", "clinicians", [old])
    assert texts.label(dictionary.field("sex")) == "Sex"  # the base, not an old translation
    assert texts.label(dictionary.field("weight")) == "Peso"


def test_coverage_counts_what_a_layer_misses(dictionary):
    report = coverage(layer(dictionary, "sex,label,,Sex,Sexo\n"), dictionary)
    assert report.translated == 1 and len(report.missing) == report.expected - 1
    assert ("covid19", "form", "") in report.missing


def test_every_shipped_language_has_a_complete_layer_for_each_audience(dictionary):
    names = {str(name) for name, _ in layer_files(SHIPPED, "core_dataset_v1")}
    for language in ("es", "pt-br", "fr", "de", "it", "ar"):
        assert {language, f"{language}.patients"} <= names
    for name, path in layer_files(SHIPPED, "core_dataset_v1"):
        report = coverage(read_layer(path, dictionary, name), dictionary)
        assert report.complete, (str(name), report.missing[:3], report.stale[:3])


def test_the_check_command_prints_coverage_and_fails_on_an_incomplete_layer(tmp_path):
    out = io.StringIO()
    call_command("text_layers", "--check", stdout=out)
    assert "every layer complete" in out.getvalue()
    assert "es.patients" in out.getvalue()
    (tmp_path / "core_dataset_v1.fr.csv").write_text(HEADER + "sex,label,,Sex,Sexe\n")
    (tmp_path / "core_dataset_v1.de.csv").write_text(HEADER + "nope,label,,X,Y\n")
    out = io.StringIO()
    with pytest.raises(CommandError, match="2 layer"):
        call_command("text_layers", "--check", "--dir", str(tmp_path), stdout=out)
    printed = out.getvalue()
    assert "unknown variable 'nope'" in printed
    assert "missing: covid19 form" in printed


def test_a_template_carries_every_string_with_its_source(dictionary):
    rows = template_rows(dictionary, "patients")
    assert ["sex", "label", "", "What is your sex?", ""] in rows
    assert all(len(row) == 5 for row in rows)
