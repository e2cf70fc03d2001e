"""The clinician's entry pages: start a case, fill and save forms, submit; who may do what."""

import io
import json
import re

import pytest
from django.urls import reverse
from helpers_auth import verified_login

from casereports.dictionary import read_dictionary
from casereports.dictionary.model import HEADER
from casereports.models import AuditEvent, Case, CaseStatus, Membership
from casereports.services import cases as services
from casereports.services.dictionaries import LoadedDictionary, store_dictionary
from casereports.views.entry import resume_form

from .conftest import PASSWORD, context
from .helpers import REQUIRED

pytestmark = pytest.mark.django_db

WIDGET_ROWS = '''\
record_id,visit,,text,Record,,,,,,,,,,,,,@READONLY
intro,visit,About the visit,descriptive,Answer what you know.,,,,,,,,,,,,,
visit_time,visit,,text,Time of the visit,,,datetime_ymd,,,,,,,,,,
contact,visit,,text,Contact e-mail,,,email,,,,,,,,,,
weight_kg,visit,,text,Weight,,,number_1dp,,,,,,,,,,"@GDSI-UNIT=""kg"""
weight_lb,visit,,calc,Weight in pounds,"round([weight_kg] * 2.20462, 1)",,,,,,,,,,,,
symptoms,visit,Symptoms,checkbox,Symptoms,"1, Fever | 2, Cough | 3, Other",,,,,,,y,,,,,
symptom_other,visit,,notes,Other symptom,,Describe it.,,,,,[symptoms(3)] = '1',,,,,,
pain,visit,,slider,Pain,None | Some | Worst,,number,,,,,,,,,,
scan,visit,,file,Scan report,,,,,,,,,,,,,
'''
WIDGETS_CSV = ",".join(f'"{column}"' for column in HEADER) + "\n" + WIDGET_ROWS


def male_checked(html: str) -> bool:
    """The "Male" radio of sex is the one checked."""
    return re.search(r'value="male"[^>]*id="input-sex_1" checked', html) is not None


def login(client, user):
    verified_login(client, user)
    return client


def form_url(case, form):
    return reverse("cases:form", args=[case.secret_name, form])


def post_form(client, case, form, values, *, version=None, action="save", **extra):
    data = {"version": case.version if version is None else version, "action": action}
    data.update(values)
    data.update(extra)
    return client.post(form_url(case, form), data)


def new_case(user, site):
    return services.create_case(context(user), site)


def fill_required(user, case):
    for form, values in REQUIRED.items():
        case = services.save_form(
            context(user), case, values, form=form, expected_version=case.version
        ).case
    return case


def submitted(user, site):
    case = fill_required(user, new_case(user, site))
    return services.submit_case(context(user), case, expected_version=case.version)


def text_of(response) -> str:
    """The page as a person reads it: tags removed, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def spec_of(response) -> dict:
    found = re.search(
        r'<script id="entry-spec" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    return json.loads(found.group(1))


# --- starting a case -------------------------------------------------------------------------


def test_a_clinician_starts_a_draft_at_their_site_and_lands_on_the_first_form(
    client, core_version, clinician_a, site_a
):
    login(client, clinician_a)
    assert client.get(reverse("cases:new")).status_code == 200
    response = client.post(reverse("cases:new"))
    case = Case.objects.get()
    assert response.status_code == 302
    assert response["Location"] == form_url(case, "covid19")
    assert case.site == site_a and case.status == CaseStatus.DRAFT
    assert AuditEvent.objects.filter(case=case, action="case.created").count() == 1


def test_with_several_sites_the_clinician_chooses_one(
    client, core_version, clinician_a, site_a, site_b
):
    Membership.objects.create(user=clinician_a, site=site_b, role="clinician")
    login(client, clinician_a)
    page = client.get(reverse("cases:new"))
    assert 'name="site"' in page.content.decode()
    assert "Hospital A" in text_of(page) and "Hospital B" in text_of(page)
    assert client.post(reverse("cases:new")).status_code == 400
    assert not Case.objects.exists()
    client.post(reverse("cases:new"), {"site": site_b.pk})
    assert Case.objects.get().site == site_b


def test_no_entry_site_is_403_and_on_record(client, core_version, make_user, site_a):
    reader = make_user("central", "central_data_manager", site_a)
    login(client, reader)
    assert client.get(reverse("cases:new")).status_code == 403
    assert client.post(reverse("cases:new")).status_code == 403
    assert not Case.objects.exists()
    assert AuditEvent.objects.filter(action="permission.denied", actor=reader).count() == 2


def test_a_site_that_is_not_the_users_is_refused(client, core_version, clinician_a, site_a, site_b):
    login(client, clinician_a)
    assert client.post(reverse("cases:new"), {"site": site_b.pk}).status_code == 403
    assert not Case.objects.exists()
    assert AuditEvent.objects.filter(action="permission.denied", actor=clinician_a).exists()


# --- the form page ---------------------------------------------------------------------------


def test_the_form_page_shows_progress_sections_labels_units_and_widgets(
    client, core_version, clinician_a, site_a
):
    case = new_case(clinician_a, site_a)
    page = login(client, clinician_a).get(form_url(case, "demographics"))
    html, text = page.content.decode(), text_of(page)
    assert page.status_code == 200
    for title in ("COVID-19", "Demographics", "MS history", "Comorbidities", "Administrative"):
        assert title in text
    assert 'aria-current="step"' in html and 'data-testid="step-demographics"' in html
    assert 'id="field-age_years"' in html and "Age at COVID-19 (years)" in text
    assert "Age in whole years; never a date of birth." in text  # the field note
    age = re.search(r'<input type="number" name="age_years"[^>]*>', html).group(0)
    assert 'min="0"' in age and 'max="110"' in age and 'step="1"' in age
    assert "years" in text and "kg" in text  # units
    weight = re.search(r'<input type="number" name="weight"[^>]*>', html).group(0)
    assert "max=" not in weight  # a soft range never blocks the browser
    assert 'type="radio" class="form-check-input"  name="sex" value="female"' in html
    assert re.search(r'Sex\s*<span class="asteriskField">\*</span>', html)  # required marker
    assert "novalidate" in html  # drafts save with blanks; the server decides
    for testid in ("save-draft", "save-continue", "submit-case", "restore-banner"):
        assert f'data-testid="{testid}"' in html
    covid = client.get(form_url(case, "covid19")).content.decode()
    assert "Hospital care" in covid  # a section header
    assert '<input type="date" name="covid19_date_lab_test"' in covid
    assert '<select name="covid19_country"' in covid
    ms = client.get(form_url(case, "ms_history")).content.decode()
    edss = re.search(r'<input type="number" name="edss_value"[^>]*>', ms).group(0)
    assert 'step="0.5"' in edss and 'max="10"' in edss


def test_the_page_carries_the_logic_for_the_browser(client, core_version, clinician_a, site_a):
    case = new_case(clinician_a, site_a)
    page = login(client, clinician_a).get(form_url(case, "covid19"))
    spec = spec_of(page)
    icu = next(f for f in spec["fields"] if f["name"] == "covid19_icu_stay")
    assert icu["branching"]["t"] == "bin"
    assert spec["secretName"] == case.secret_name and spec["version"] == case.version
    assert any(item["name"] == "bmi" and item["calc"] for item in spec["logic"])
    weight = next(
        f
        for f in spec_of(client.get(form_url(case, "demographics")))["fields"]
        if f["name"] == "weight"
    )
    assert weight["soft"] and weight["min"] == "30" and weight["max"] == "300"
    html = page.content.decode()
    assert 'id="entry-record"' in html
    assert "<script>" not in html.replace("<script src", "")  # no inline script


@pytest.fixture
def widget_version(core_version):
    loaded = LoadedDictionary(read_dictionary(io.StringIO(WIDGETS_CSV)), "", 0)
    version, _ = store_dictionary(loaded, name="core")
    return version


def test_every_field_type_gets_its_widget(client, widget_version, clinician_a, site_a):
    case = new_case(clinician_a, site_a)
    assert case.dictionary_version == widget_version
    html = login(client, clinician_a).get(form_url(case, "visit")).content.decode()
    assert "Answer what you know." in html  # descriptive: text only
    assert '<input type="datetime-local" name="visit_time"' in html
    assert '<input type="email" name="contact"' in html
    assert re.search(r'name="weight_kg"[^>]*step="0.1"', html)
    assert 'id="calc-weight_lb"' in html  # a visible calc: read-only, computed live
    assert 'type="checkbox" class="form-check-input"  name="symptoms" value="3"' in html
    assert '<textarea name="symptom_other"' in html
    assert 'type="range"' in html and 'data-slider-value="pain"' in html
    assert "File uploads are not supported here" in html
    assert "style=" not in html and "<script>" not in html  # the CSP allows neither inline


def test_checkboxes_and_datetimes_are_stored_as_the_dictionary_expects(
    client, widget_version, clinician_a, site_a
):
    case = new_case(clinician_a, site_a)
    login(client, clinician_a)
    values = {
        "visit_time": "2021-03-04T10:30",
        "symptoms": ["1", "3"],
        "symptom_other": "rash",
        "weight_kg": "70.0",
        "pain": "40",
    }
    assert post_form(client, case, "visit", values).status_code == 302
    case.refresh_from_db()
    assert case.data["visit_time"] == "2021-03-04 10:30"
    assert (case.data["symptoms___1"], case.data["symptoms___2"], case.data["symptoms___3"]) == (
        "1",
        "0",
        "1",
    )
    assert case.data["weight_lb"] == "154.3" and case.data["pain"] == "40"
    page = client.get(form_url(case, "visit")).content.decode()
    assert 'value="2021-03-04T10:30"' in page
    post_form(client, case, "visit", {**values, "symptoms": []})  # every box unticked
    case.refresh_from_db()
    assert case.data["symptoms___1"] == "0" and case.data["symptom_other"] == ""


def test_an_unknown_form_is_404(client, core_version, clinician_a, site_a):
    case = new_case(clinician_a, site_a)
    login(client, clinician_a)
    assert client.get(form_url(case, "derived")).status_code == 404  # nothing to enter there
    assert client.get(form_url(case, "no_such_form")).status_code == 404


# --- saving ----------------------------------------------------------------------------------


def test_a_draft_saves_without_required_answers_and_stays_on_the_page(
    client, core_version, clinician_a, site_a
):
    case = new_case(clinician_a, site_a)
    login(client, clinician_a)
    response = post_form(client, case, "demographics", {"age_years": "44"})
    assert response.status_code == 302 and response["Location"] == form_url(case, "demographics")
    case.refresh_from_db()
    assert case.data["age_years"] == "44" and case.data["sex"] == ""
    assert case.version == 2 and case.last_form == "demographics"
    page = client.get(response["Location"])
    assert "Draft saved: Demographics." in messages_of(page)
    assert spec_of(page)["clearStored"] == f"gdsi-entry:{case.secret_name}:demographics:"


def test_save_and_continue_goes_to_the_next_form_and_the_last_to_the_case_page(
    client, core_version, clinician_a, site_a
):
    case = new_case(clinician_a, site_a)
    login(client, clinician_a)
    response = post_form(client, case, "covid19", {}, action="continue")
    assert response["Location"] == form_url(case, "demographics")
    case.refresh_from_db()
    last = client.get(form_url(case, "administrative")).content.decode()
    assert 'data-testid="save-review"' in last and 'data-testid="save-continue"' not in last
    response = post_form(client, case, "administrative", {"covid_wave": "1"}, action="continue")
    assert response["Location"] == reverse("cases:detail", args=[case.secret_name])


def test_a_bad_value_shows_the_fields_error_keeps_the_input_and_saves_nothing(
    client, core_version, clinician_a, site_a
):
    case = new_case(clinician_a, site_a)
    login(client, clinician_a)
    response = post_form(client, case, "demographics", {"age_years": "forty", "sex": "male"})
    html, text = response.content.decode(), text_of(response)
    assert response.status_code == 200
    assert "This answer is not a whole number." in text
    assert re.search(r'name="age_years" value="forty"[^>]*is-invalid', html)
    error = re.search(r'<div class="([^"]*)" id="error-age_years"[^>]*>(.*?)</div>', html)
    assert "invalid-feedback" in error.group(1) and "d-block" in error.group(1)
    assert "This answer is not a whole number." in error.group(2)
    summary = re.search(r'data-testid="problem-summary".*?</div>', html, re.S).group(0)
    assert "Age at COVID-19 (years)" in summary and "nothing was saved" in summary
    assert male_checked(html)  # the other typed value is kept
    case.refresh_from_db()
    assert case.data["age_years"] == "" and case.data["sex"] == "" and case.version == 1


def test_a_soft_range_warns_with_a_confirm_box_and_saves_once_confirmed(
    client, core_version, clinician_a, site_a
):
    case = new_case(clinician_a, site_a)
    login(client, clinician_a)
    response = post_form(client, case, "demographics", {"weight": "350"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "This answer must be at most 300 (expected 30–300); please check and confirm." in html
    assert 'name="confirm__weight"' in html and "I confirm this value" in html
    case.refresh_from_db()
    assert case.data["weight"] == ""
    response = post_form(client, case, "demographics", {"weight": "350", "confirm__weight": "1"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.data["weight"] == "350"


def test_a_hard_range_refuses(client, core_version, clinician_a, site_a):
    case = new_case(clinician_a, site_a)
    login(client, clinician_a)
    response = post_form(client, case, "demographics", {"age_years": "140"})
    assert "This answer must be at most 110." in text_of(response)
    assert 'name="confirm__age_years"' not in response.content.decode()


def test_branching_clears_hidden_answers_and_names_them(client, core_version, clinician_a, site_a):
    case = new_case(clinician_a, site_a)
    login(client, clinician_a)
    hospital = {
        "covid19_admission_hospital": "yes",
        "covid19_icu_stay": "yes",
        "covid19_icu_total_duration": "4",
    }
    post_form(client, case, "covid19", hospital)
    case.refresh_from_db()
    assert case.data["covid19_icu_total_duration"] == "4"
    response = post_form(client, case, "covid19", {**hospital, "covid19_admission_hospital": "no"})
    case.refresh_from_db()
    assert case.data["covid19_icu_stay"] == "" and case.data["covid19_icu_total_duration"] == ""
    page = client.get(response["Location"])
    notice = re.search(r'data-testid="cleared-notice".*?</div>', page.content.decode(), re.S)
    assert "Stay in an intensive care unit (ICU)?" in notice.group(0)
    assert "Total days in the ICU" in notice.group(0)
    assert (
        'data-testid="cleared-notice"' not in client.get(form_url(case, "covid19")).content.decode()
    )


def test_answers_the_browser_emptied_when_it_hid_them_are_named_too(
    client, core_version, clinician_a, site_a
):
    case = new_case(clinician_a, site_a)
    login(client, clinician_a)
    post_form(client, case, "demographics", {"sex": "female", "pregnancy": "no"})
    case.refresh_from_db()
    response = post_form(client, case, "demographics", {"sex": "male", "pregnancy": ""})
    page = client.get(response["Location"])
    assert "Pregnant at the time of COVID-19?" in text_of(page)
    assert 'data-testid="cleared-notice"' in page.content.decode()


def test_a_stale_version_is_refused_keeps_the_input_and_overwrites_nothing(
    client, core_version, clinician_a, site_a, make_user
):
    case = new_case(clinician_a, site_a)
    colleague = make_user("colleague", "clinician", site_a)
    services.save_form(
        context(colleague), case, {"sex": "female"}, form="demographics", expected_version=1
    )
    login(client, clinician_a)
    response = post_form(
        client, case, "demographics", {"sex": "male", "age_years": "51"}, version=1
    )
    html = response.content.decode()
    assert response.status_code == 409
    assert "Someone else saved this case after you opened it" in text_of(response)
    assert 'name="age_years" value="51"' in html and male_checked(html)
    case.refresh_from_db()
    assert case.data["sex"] == "female" and case.data["age_years"] == "" and case.version == 2


def test_after_submission_a_change_needs_a_reason(client, core_version, clinician_a, site_a):
    case = submitted(clinician_a, site_a)
    login(client, clinician_a)
    page = client.get(form_url(case, "demographics")).content.decode()
    assert 'name="reason"' in page and "Reason for change" in page
    response = post_form(
        client, case, "demographics", {**REQUIRED["demographics"], "age_years": "45"}
    )
    assert response.status_code == 200
    assert "give a reason for the change" in text_of(response)
    assert re.search(r'name="reason"[^>]*is-invalid', response.content.decode())
    case.refresh_from_db()
    assert case.data["age_years"] == "44"
    values = {**REQUIRED["demographics"], "age_years": "45"}
    response = post_form(client, case, "demographics", values, reason="Typo in the age")
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.data["age_years"] == "45"
    event = AuditEvent.objects.filter(case=case, action="case.changed").last()
    assert event.details["reason"] == "Typo in the age"


def test_a_submitted_case_checks_required_answers_on_every_save(
    client, core_version, clinician_a, site_a
):
    case = submitted(clinician_a, site_a)
    login(client, clinician_a)
    response = post_form(client, case, "demographics", {"age_years": "44"}, reason="tidy")
    html = response.content.decode()
    error = re.search(r'<div class="([^"]*)" id="error-sex"[^>]*>(.*?)</div>', html)
    assert "d-block" in error.group(1) and "This answer is required." in error.group(2)
    assert 'class="form-check-input is-invalid"  name="sex"' in html
    case.refresh_from_db()
    assert case.data["sex"] == "female"


# --- submitting ------------------------------------------------------------------------------


def test_submit_with_missing_answers_lists_them_by_form_and_goes_to_the_first(
    client, core_version, clinician_a, site_a
):
    case = new_case(clinician_a, site_a)
    case = services.save_form(
        context(clinician_a), case, REQUIRED["covid19"], form="covid19", expected_version=1
    ).case
    login(client, clinician_a)
    response = client.post(
        reverse("cases:submit", args=[case.secret_name]), {"version": case.version}
    )
    assert response.status_code == 302
    assert response["Location"] == form_url(case, "demographics") + "?check=required"
    page = client.get(response["Location"])
    (message,) = messages_of(page)
    assert "Demographics: Age at COVID-19 (years); Sex" in message
    assert "MS history: Type of MS" in message and "Comorbidities: Any comorbidities?" in message
    assert "This answer is required." in text_of(page)  # marked on the questions too
    case.refresh_from_db()
    assert case.status == CaseStatus.DRAFT


def test_a_complete_case_submits_and_goes_to_the_case_page(
    client, core_version, clinician_a, site_a
):
    case = fill_required(clinician_a, new_case(clinician_a, site_a))
    login(client, clinician_a)
    response = client.post(
        reverse("cases:submit", args=[case.secret_name]), {"version": case.version}
    )
    assert response["Location"] == reverse("cases:detail", args=[case.secret_name])
    case.refresh_from_db()
    assert case.status == CaseStatus.SUBMITTED


def test_a_submit_sent_from_an_expired_session_returns_to_the_form_after_login(
    client, core_version, clinician_a, site_a
):
    case = new_case(clinician_a, site_a)
    url = reverse("cases:submit", args=[case.secret_name])
    assert f"next={url}" in client.post(url, {"version": 1})["Location"]
    login(client, clinician_a)
    assert client.get(url)["Location"] == form_url(case, "covid19")
    case.refresh_from_db()
    assert case.status == CaseStatus.DRAFT


def test_a_stale_submit_is_refused(client, core_version, clinician_a, site_a):
    case = fill_required(clinician_a, new_case(clinician_a, site_a))
    login(client, clinician_a)
    client.post(reverse("cases:submit", args=[case.secret_name]), {"version": case.version - 1})
    case.refresh_from_db()
    assert case.status == CaseStatus.DRAFT


def test_drafts_resume_where_the_user_stopped(core_version, clinician_a, site_a):
    case = new_case(clinician_a, site_a)
    assert resume_form(case) == "covid19"
    case = services.save_form(
        context(clinician_a), case, {"sex": "male"}, form="demographics", expected_version=1
    ).case
    assert resume_form(case) == "demographics"


# --- locked, other sites, read-only roles, anonymous ---------------------------------------


def test_a_locked_case_shows_read_only_and_refuses_a_save(
    client, core_version, clinician_a, manager_a, site_a
):
    case = submitted(clinician_a, site_a)
    case = services.lock_case(
        context(manager_a), case, password=PASSWORD, expected_version=case.version
    )
    login(client, clinician_a)
    page = client.get(form_url(case, "demographics"))
    html = page.content.decode()
    assert 'data-testid="locked-note"' in html
    assert re.search(r'name="age_years" value="44"[^>]*disabled', html)
    assert 'data-testid="save-draft"' not in html
    response = post_form(client, case, "demographics", {"age_years": "50"}, reason="late news")
    assert response.status_code == 409
    assert "This case is locked" in text_of(response)
    case.refresh_from_db()
    assert case.data["age_years"] == "44"


def test_a_clinician_of_another_site_gets_404_and_it_is_on_record(
    client, core_version, clinician_a, clinician_b, site_a
):
    case = new_case(clinician_a, site_a)
    login(client, clinician_b)
    assert client.get(form_url(case, "demographics")).status_code == 404
    assert post_form(client, case, "demographics", {"sex": "male"}).status_code == 404
    submit = client.post(reverse("cases:submit", args=[case.secret_name]), {"version": 1})
    assert submit.status_code == 404
    denials = AuditEvent.objects.filter(action="permission.denied", actor=clinician_b)
    assert denials.count() == 3 and denials.filter(case=case).count() == 3
    case.refresh_from_db()
    assert case.data["sex"] == "" and case.version == 1


def test_a_read_only_role_gets_403_on_the_form_and_on_save(
    client, core_version, clinician_a, site_a, make_user
):
    case = new_case(clinician_a, site_a)
    reader = make_user("central", "central_data_manager", site_a)
    login(client, reader)
    assert client.get(form_url(case, "demographics")).status_code == 403
    assert post_form(client, case, "demographics", {"sex": "male"}).status_code == 403
    submit = client.post(reverse("cases:submit", args=[case.secret_name]), {"version": 1})
    assert submit.status_code == 403
    assert (
        AuditEvent.objects.filter(action="permission.denied", actor=reader, case=case).count() == 3
    )
    case.refresh_from_db()
    assert case.data["sex"] == ""


def test_anonymous_users_are_sent_to_login(client, core_version, clinician_a, site_a):
    case = new_case(clinician_a, site_a)
    login_url = reverse("login")
    for response in (
        client.get(reverse("cases:new")),
        client.post(reverse("cases:new")),
        client.get(form_url(case, "covid19")),
        post_form(client, case, "covid19", {"covid19_has_symptoms": "yes"}),
        client.post(reverse("cases:submit", args=[case.secret_name]), {"version": 1}),
    ):
        assert response.status_code == 302 and response["Location"].startswith(login_url)
    assert "next=/cases/" in client.get(form_url(case, "covid19"))["Location"]
    case.refresh_from_db()
    assert case.version == 1
