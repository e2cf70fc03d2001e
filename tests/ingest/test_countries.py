"""A country as registries write it: its code in any case, its alpha-3 code, its name in English
or in the registry's own language, old or new; a name two countries share is not guessed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from casereports.dictionary.shipped import core_dictionary
from casereports.ingest.countries import country_table, fold
from casereports.ingest.reader import open_core_csv
from tests.federated.command_helpers import REPO, case, write_csv


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("Türkiye", "TR"),
        ("Turkey", "TR"),
        ("TÜRKIYE", "TR"),
        ("Deutschland", "DE"),
        ("España", "ES"),
        ("espana", "ES"),
        ("Italia", "IT"),
        ("Brasil", "BR"),
        ("Россия", "RU"),
        ("Ελλάδα", "GR"),
        ("Polska", "PL"),
        ("Česko", "CZ"),
        ("Czech Republic", "CZ"),
        ("Swaziland", "SZ"),
        ("Eswatini", "SZ"),
        ("Macedonia", "MK"),
        ("North Macedonia", "MK"),
        ("Burma", "MM"),
        ("Holland", "NL"),
        ("Nederland", "NL"),
        ("Great Britain", "GB"),
        ("U.K.", "GB"),
        ("England", "GB"),
        ("Scotland", "GB"),
        ("Wales", "GB"),
        ("Northern Ireland", "GB"),
        ("USA", "US"),
        ("United States of America", "US"),
        ("Côte d’Ivoire", "CI"),
        ("Cote d'Ivoire", "CI"),
        ("Bosnia & Herzegovina", "BA"),
        ("  united   kingdom ", "GB"),
        ("Schweiz", "CH"),
        ("Suisse", "CH"),
        ("Éire", "IE"),
        ("Iran, Islamic Republic of", "IR"),
        ("日本", "JP"),
    ],
)
def test_a_country_name_in_many_languages_reads_as_its_code(written, code):
    assert country_table().names[fold(written)] == code


def test_alpha_3_codes_and_names_read_in_a_file_each_counted(tmp_path):
    written = ["tur", "DEU", "Österreich", "de", "Saint Martin", "Atlantis"]
    records = [case(secret_name=f"R{n}", covid19_country=c) for n, c in enumerate(written)]
    with open_core_csv(write_csv(tmp_path / "c.csv", records), DICTIONARY) as reader:
        rows = list(reader)
        found = [row.values["covid19_country"] for row in rows]
        normalised = {entry["what"]: entry["count"] for entry in reader.normalisations()}
    # Saint Martin is the curated name of MF; Atlantis is no country.
    assert found == ["TR", "DE", "AT", "DE", "MF", ""]
    assert normalised == {
        "ISO alpha-3 country code read as its alpha-2 code": 2,
        "code read in another letter case": 1,
        "country name read as its ISO code": 2,
    }


def test_a_name_two_countries_share_in_different_languages_is_dropped():
    table = country_table()
    assert "kongo" not in table.names  # Congo-Kinshasa and Congo-Brazzaville in German
    assert table.names["congo"] == "CG"  # the curated spelling wins
    assert table.names["dr congo"] == "CD"


def test_only_codes_of_the_dictionary_are_read():
    codes = {code for code, _ in DICTIONARY.field("covid19_country").choices}
    assert "kosovo" in country_table().names  # CLDR names it (XK), the dictionary has no XK
    assert "kosovo" not in country_table().restricted(codes).names


def test_the_table_is_built_once_and_fast():
    program = (
        "import time\n"
        "from casereports.ingest.countries import country_table\n"
        "started = time.perf_counter(); country_table()\n"
        "print(time.perf_counter() - started)\n"
    )
    seconds = subprocess.run(
        [sys.executable, "-c", program], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert float(seconds) < 1.5  # about 0.2 s on the development machine
    assert country_table() is country_table()


DICTIONARY = core_dictionary().dictionary
