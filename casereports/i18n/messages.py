"""The entry checks' messages in the reader's language.

`casereports.entry` and the validation types are plain Python and speak English: each message
is one of a fixed set of shapes ("must be at least 5"). Here each shape is matched and given
back through Django's translations with its values in place, so a Spanish patient reads
"debe ser como mínimo 5". A message of no known shape is shown as it is.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext, gettext_noop, pgettext_lazy

# (pattern, translatable message with the pattern's named groups as %(name)s)
_SHAPES = [
    (r"is required", gettext_noop("is required")),
    (r"is not a number", gettext_noop("is not a number")),
    (r"is not a whole number", gettext_noop("is not a whole number")),
    (r"must be text", gettext_noop("must be text")),
    (
        r"is not a field you can enter on this form",
        gettext_noop("is not a question you can answer on this page"),
    ),
    (r"'(?P<code>.*)' is not one of the choices", gettext_noop("is not one of the choices")),
    (r"must be a multiple of (?P<step>\S+)", gettext_noop("must be a multiple of %(step)s")),
    (
        r"must have exactly (?P<places>\d+) decimal place\(s\)",
        gettext_noop("must have exactly %(places)s decimal place(s)"),
    ),
    (r"must be at least (?P<low>\S+)", gettext_noop("must be at least %(low)s")),
    (r"must be at most (?P<high>\S+)", gettext_noop("must be at most %(high)s")),
    (r"must be on or after (?P<low>\S+)", gettext_noop("must be on or after %(low)s")),
    (r"must be on or before (?P<high>\S+)", gettext_noop("must be on or before %(high)s")),
    (r"is not a date \((?P<hint>[^)]*)\)", gettext_noop("is not a date (%(hint)s)")),
    (
        r"is not a date and time \((?P<hint>[^)]*)\)",
        gettext_noop("is not a date and time (%(hint)s)"),
    ),
    (r"cannot be later than today", gettext_noop("cannot be later than today")),
    (r"is not (?P<what>a time \(HH:MM\))", gettext_noop("is not a time (HH:MM)")),
]
_COMPILED = [(re.compile(f"^{pattern}$"), message) for pattern, message in _SHAPES]
_SOFT = re.compile(
    r"^(?P<problem>.+) \(expected (?P<low>.*)–(?P<high>.*)\); please check and confirm$"
)

ANSWER_SENTENCE = pgettext_lazy("an answer's problem", "This answer %(problem)s.")


def translate_problem(message: str) -> str:
    """One entry message in the active language (unchanged when its shape is unknown)."""
    message = message.rstrip(".")
    soft = _SOFT.match(message)
    if soft:
        return gettext("%(problem)s (expected %(low)s–%(high)s); please check and confirm") % {
            "problem": translate_problem(soft["problem"]),
            "low": soft["low"],
            "high": soft["high"],
        }
    for pattern, shape in _COMPILED:
        found = pattern.match(message)
        if found:
            return gettext(shape) % found.groupdict() if "%(" in shape else gettext(shape)
    return message


def answer_sentence(message: str) -> str:
    """A service message ("is not a number") as a sentence under the question."""
    return str(ANSWER_SENTENCE) % {"problem": translate_problem(message)}


def client_messages() -> dict[str, str]:
    """The messages entry.js writes as the person types, in the page's language (placeholders
    `{min}`, `{max}` and `{step}` filled in by the script)."""
    return {
        "sentence": str(ANSWER_SENTENCE) % {"problem": "{problem}"},
        "notNumber": gettext("is not a number"),
        "notWhole": gettext("is not a whole number"),
        "atLeast": gettext("must be at least %(low)s") % {"low": "{min}"},
        "atMost": gettext("must be at most %(high)s") % {"high": "{max}"},
        "onOrAfter": gettext("must be on or after %(low)s") % {"low": "{min}"},
        "onOrBefore": gettext("must be on or before %(high)s") % {"high": "{max}"},
        "multipleOf": gettext("must be a multiple of %(step)s") % {"step": "{step}"},
        "soft": gettext("%(problem)s (expected %(low)s–%(high)s); please check and confirm")
        % {"problem": "{problem}", "low": "{min}", "high": "{max}"},
        "required": gettext("is required"),
        "notAnswered": gettext("not answered"),
        "laterThanToday": gettext("cannot be later than today"),
        "decimals": gettext("must have exactly %(places)s decimal place(s)")
        % {"places": "{places}"},
    }
