"""The words a clinician reads for a failing quality rule (casereports.quality.messages)."""

from casereports.dictionary.model import QualityRule
from casereports.dictionary.shipped import core_dictionary
from casereports.quality.messages import field_labels, rule_message


def rule(name: str, rule_id: str = "Q4_x") -> QualityRule:
    return QualityRule(rule_id=rule_id, rule_name=name, rule_logic="1 = 1", kind="check")


def test_the_leading_code_goes_and_the_first_letter_is_upper_cased():
    assert rule_message(rule("Q4 hospital discharge before admission")) == (
        "Hospital discharge before admission"
    )
    assert rule_message(rule("Q10 height outside 100-210 cm")) == "Height outside 100-210 cm"
    assert rule_message(rule("R12: recovered, did not die")) == "Recovered, did not die"
    assert rule_message(rule("QC3.1 - age outside 0-110")) == "Age outside 0-110"


def test_words_that_only_look_like_codes_stay():
    assert rule_message(rule("COVID19 onset after the report")) == "COVID19 onset after the report"
    assert rule_message(rule("A1c above 7")) == "A1c above 7"
    assert rule_message(rule("ICU stay without admission")) == "ICU stay without admission"
    assert rule_message(rule("  no symptoms   but a symptom is yes ")) == (
        "No symptoms but a symptom is yes"
    )


def test_a_name_that_is_only_a_code_or_empty_gives_the_rule_id():
    assert rule_message(rule("Q4", rule_id="Q4_discharge")) == "Q4_discharge"
    assert rule_message(rule("", rule_id="Q4_discharge")) == "Q4_discharge"


def test_variable_names_read_as_their_labels_when_labels_are_given():
    name = "Q5 covid19_date_lab_test before the year of birth or after the reporting date"
    assert rule_message(rule(name)) == (
        "Covid19_date_lab_test before the year of birth or after the reporting date"
    )
    labels = {"covid19_date_lab_test": "Date of the confirming test", "height": "Height (cm)?"}
    assert rule_message(rule(name), labels) == (
        "Date of the confirming test before the year of birth or after the reporting date"
    )
    # Plain words are never swapped, even when a variable has that name; unknown names stay.
    assert rule_message(rule("Q10 height outside 100-210 cm"), labels) == (
        "Height outside 100-210 cm"
    )
    assert rule_message(rule("Q5 other_date after x_y"), labels) == "Other_date after x_y"
    # A question's label loses its question mark inside the sentence.
    assert rule_message(rule("Q6 icu_stay without admission"), {"icu_stay": "ICU stay?"}) == (
        "ICU stay without admission"
    )


def test_every_rule_of_the_core_data_set_has_words_without_its_code_or_variable_names():
    shipped = core_dictionary()
    labels = field_labels(shipped.dictionary.fields)
    messages = {r.rule_id: rule_message(r, labels) for r in shipped.rules}
    assert messages["Q4_covid19_admission_hospital_release"] == (
        "Hospital discharge before admission"
    )
    assert messages["Q3_covid19_self_isolation_date"] == (
        "Start date of self-isolation before 2019 or in the future"
    )
    for rule_id, message in messages.items():
        code = rule_id.split("_")[0]
        assert not message.startswith(code + " "), rule_id
        assert message[:1].isupper(), rule_id
        assert "_" not in message, (rule_id, message)


def test_the_module_imports_no_django():
    import ast
    from pathlib import Path

    import casereports.quality.messages as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ] + [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name.split(".")[0] == "django"]
