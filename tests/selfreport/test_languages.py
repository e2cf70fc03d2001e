"""Languages: chosen by ?lang=, kept in the session (no language cookie), else the browser's;
<html lang dir> always right; dates and numbers written per language, stored ISO; every
shipped translation catalogue complete and compiled."""

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings

from selfreport.journey import consent_to_all, current_case, save_page

pytestmark = pytest.mark.django_db
LOCALE = Path(__file__).resolve().parents[2] / "locale"
LANGUAGES = [code for code, _ in settings.LANGUAGES]


def html_tag(response) -> str:
    return re.search(r"<html[^>]*>", response.content.decode())[0]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_sets_lang_and_direction(client, project, language):
    response = client.get(f"/report/?lang={language}")
    tag = html_tag(response)
    assert f'lang="{language}"' in tag
    assert ('dir="rtl"' in tag) == (language == "ar")
    assert response["Content-Language"] == language
    css = "bootstrap.rtl.min.css" if language == "ar" else "bootstrap.min.css"
    assert css in response.content.decode()


def test_the_choice_is_kept_in_the_session_without_a_language_cookie(client, project):
    client.get("/report/?lang=pt-BR")
    response = client.get("/report/")
    assert 'lang="pt-br"' in html_tag(response)
    assert "django_language" not in client.cookies
    assert set(client.cookies) <= {"sessionid"}


def test_without_a_choice_the_browsers_language_is_used(client, project):
    response = client.get("/report/", HTTP_ACCEPT_LANGUAGE="fr-CH, fr;q=0.9, en;q=0.5")
    assert 'lang="fr"' in html_tag(response)
    assert "Accept-Language" in response["Vary"]
    unknown = client.get("/report/?lang=xx", HTTP_ACCEPT_LANGUAGE="de")
    assert 'lang="de"' in html_tag(unknown)


def test_the_switcher_keeps_the_page_and_its_query(client, project):
    page = client.get("/report/?country=FR&lang=en").content.decode()
    switcher = re.search(r'<form[^>]*data-testid="language-switcher".*?</form>', page, re.S)[0]
    assert 'name="country" value="FR"' in switcher
    assert switcher.count("<option") == len(LANGUAGES)
    assert 'lang="ar"' in switcher and "العربية" in switcher


def test_dates_are_shown_per_language_and_stored_iso(client, project, no_fill_delay):
    consent_to_all(client, lang="es")
    save_page(client, "covid19", {"covid19_date_suspected_onset": "2021-03-01"})
    save_page(client, "demographics", {"age_years": "44", "sex": "female"})
    assert current_case(client).data["covid19_date_suspected_onset"] == "2021-03-01"
    review = client.get("/report/review/").content.decode()
    assert "1 de marzo de 2021" in review
    assert "Mujer" in review or "Femenino" in review


def test_country_names_are_in_the_readers_language(client, project):
    page = client.get("/report/?lang=de").content.decode()
    assert '<option value="ES">Spanien</option>' in page


@pytest.mark.parametrize("language", [code for code in LANGUAGES if code != "en"])
def test_every_catalogue_is_complete_and_compiled(language):
    folder = LOCALE / language.replace("-br", "_BR") / "LC_MESSAGES"
    catalogue = polib.pofile(str(folder / "django.po"))
    untranslated = [entry.msgid for entry in catalogue.untranslated_entries()]
    fuzzy = [entry.msgid for entry in catalogue.fuzzy_entries()]
    assert not untranslated, untranslated[:5]
    assert not fuzzy, fuzzy[:5]
    compiled = polib.mofile(str(folder / "django.mo"))
    translations = {(e.msgctxt, e.msgid): e.msgstr for e in compiled}
    for entry in catalogue.translated_entries():
        if not entry.obsolete and not entry.msgid_plural:
            assert translations.get((entry.msgctxt, entry.msgid)) == entry.msgstr, entry.msgid


def test_units_are_in_the_readers_language(client, project, no_fill_delay):
    consent_to_all(client, lang="es")
    page = client.get("/report/page/demographics/").content.decode()
    assert ">años<" in page and ">years<" not in page
