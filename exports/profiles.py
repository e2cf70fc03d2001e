"""De-identification profiles: named sets of options, shown to administrators as they are.

The options are REDCap's export options (remove identifier fields, hash the record id, remove
free-text and notes fields, remove or shift dates) plus age top-coding, age bands and a
k-anonymity check on quasi-identifiers. Plain Python: no Django import.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

KEEP, SHIFT, REMOVE = "keep", "shift", "remove"


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    remove_identifiers: bool = True  # fields flagged `y` in the dictionary's Identifier? column
    pseudonymise_record_id: bool = True  # keyed HMAC, stable across exports
    remove_free_text: bool = True  # text fields without validation, and @GDSI-FREE-TEXT fields
    remove_notes: bool = True  # `notes` fields
    dates: str = KEEP  # keep | shift (per record, keyed, intervals survive) | remove
    max_date_shift_days: int = 0
    top_code_age_at: int | None = 89  # ages above this become this + 1 (HIPAA: 90)
    age_bands: bool = False  # age replaced by its band (see AGE_BANDS)
    k_anonymity: int | None = None  # smallest class allowed on the quasi-identifiers
    quasi_identifiers: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def options(self) -> dict[str, Any]:
        """Every option, for the manifest and the administrator's view."""
        options = asdict(self)
        options["quasi_identifiers"] = list(self.quasi_identifiers)
        return options


# Age bands of the open profile (lower bound inclusive); the top one is open-ended.
AGE_BANDS = ((0, 17), (18, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, 79), (80, None))

PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            name="central",
            description="The trusted central platform: record ids pseudonymised, identifier and "
            "free-text fields removed, dates kept, ages over 89 top-coded as 90.",
        ),
        Profile(
            name="open",
            description="Public release: as central, and age in bands instead of years, dates "
            "shifted by up to ±15 days per record (intervals within a record survive), "
            "k-anonymity k ≥ 5 on age band, sex and country (records in smaller classes have "
            "those values suppressed).",
            dates=SHIFT,
            max_date_shift_days=15,
            age_bands=True,
            k_anonymity=5,
            quasi_identifiers=("age_years", "sex", "covid19_country"),
        ),
    )
}


def profile_named(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(f"profile: '{name}' is not a profile (known: {known})") from None
