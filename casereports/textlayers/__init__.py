"""Text layers: the words of a data dictionary per language and audience. Plain Python.

The dictionary holds the base text (English, for clinicians) and the codes, logic and
validation, which never change with the language. A layer is a CSV file beside the
dictionary, `<stem>.<language>.csv` (every audience) or `<stem>.<language>.<audience>.csv`,
with the columns `variable, element, code, source, text`:

- `element` is `label`, `note`, `section_header`, `unit` (`@GDSI-UNIT`), `choice` (then `code`
  names the choice) or `form` (then `variable` is a form name and the text is the form's title);
- `source` is the base text the row translates, so a row whose base changed since it was
  translated is found (stale) and not shown: a translation of an old question may ask
  another question.

A string is looked up in the audience's layer of the language, then the language's layer, then
the base (the dictionary's text for the audience: `@GDSI-PATIENT-LABEL` for patients).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from casereports.dictionary.model import CHOICE_TYPES, FIXED_CHOICES, DataDictionary, Field

BASE_LANGUAGE = "en"
CLINICIANS, PATIENTS = "clinicians", "patients"
AUDIENCES = (CLINICIANS, PATIENTS)
COLUMNS = ("variable", "element", "code", "source", "text")
ELEMENTS = ("label", "note", "section_header", "choice", "form", "unit")
UNIT_TAG = "@GDSI-UNIT"
PATIENT_LABEL_TAG = "@GDSI-PATIENT-LABEL"
CLINICIAN_ONLY_TAG = "@GDSI-CLINICIAN-ONLY"
# Fields no person sees on a form: their words need no translation.
UNSEEN_TAGS = ("@HIDDEN", "@HIDDEN-FORM")

Key = tuple[str, str, str]  # (variable or form, element, code)


class TextLayerError(ValueError):
    """A layer file was refused; `problems` names each row and what is wrong with it."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class LayerName:
    language: str
    audience: str | None = None  # None: every audience

    def __str__(self) -> str:
        return self.language + (f".{self.audience}" if self.audience else "")

    @classmethod
    def parse(cls, text: str) -> LayerName:
        language, _, audience = text.partition(".")
        if not language:
            raise TextLayerError([f"{text!r} names no language"])
        if audience and audience not in AUDIENCES:
            raise TextLayerError([f"{text!r}: the audience must be one of {', '.join(AUDIENCES)}"])
        return cls(language, audience or None)


@dataclass
class Layer:
    name: LayerName
    entries: dict[Key, tuple[str, str]] = field(default_factory=dict)  # key -> (source, text)
    path: str = ""


# --- the base text -----------------------------------------------------------------------------


def default_form_title(form: str) -> str:
    return form.replace("_", " ").strip().capitalize()


def field_choices(f: Field) -> list[tuple[str, str]]:
    if f.field_type in FIXED_CHOICES:
        return list(FIXED_CHOICES[f.field_type])
    return list(f.choices)


def is_seen(f: Field, audience: str | None = None) -> bool:
    """Whether a person of `audience` (anyone, for None) reads this field on a form."""
    if any(tag in f.action_tags for tag in UNSEEN_TAGS):
        return False
    return not (audience == PATIENTS and CLINICIAN_ONLY_TAG in f.action_tags)


def base_text(f: Field, element: str, code: str = "", audience: str = CLINICIANS) -> str:
    """The dictionary's own text of one element of a field for an audience."""
    if element == "label":
        patient_label = f.tag(PATIENT_LABEL_TAG)
        if audience == PATIENTS and isinstance(patient_label, str) and patient_label:
            return patient_label
        return f.label
    if element == "note":
        return f.note
    if element == "section_header":
        return f.section_header
    if element == "choice":
        return dict(field_choices(f)).get(code, "")
    if element == "unit":
        unit = f.tag(UNIT_TAG)
        return unit if isinstance(unit, str) else ""
    raise KeyError(element)


def translatable(dictionary: DataDictionary, audience: str | None) -> dict[Key, str]:
    """Every string a layer of `audience` should carry, with its base text.

    An audience-wide layer (None) carries the clinicians' words of every field a person sees,
    and the form titles. A patients' layer carries only what patients read differently
    (their own labels); the rest comes from the language's layer.
    """
    strings: dict[Key, str] = {}
    for form in dictionary.forms:
        if any(f.form == form and is_seen(f, audience) for f in dictionary.fields):
            strings[(form, "form", "")] = default_form_title(form)
    for f in dictionary.fields:
        if not is_seen(f, audience):
            continue
        if audience == PATIENTS:
            label = base_text(f, "label", audience=PATIENTS)
            if label != f.label:
                strings[(f.name, "label", "")] = label
            continue
        for element in ("label", "note", "section_header", "unit"):
            text = base_text(f, element)
            if text:
                strings[(f.name, element, "")] = text
        if f.field_type in CHOICE_TYPES or f.field_type in FIXED_CHOICES:
            for code, label in field_choices(f):
                strings[(f.name, "choice", code)] = label
    return strings


# --- reading and checking a layer ---------------------------------------------------------------


def read_layer(
    source: str | Path | io.TextIOBase, dictionary: DataDictionary, name: LayerName
) -> Layer:
    """Read a layer and check it against the dictionary version; every problem names its row."""
    if isinstance(source, Path):
        text = source.read_text(encoding="utf-8-sig")
        where = source.name
    elif isinstance(source, str):
        text, where = source, "layer"
    else:
        text, where = source.read(), "layer"
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None or tuple(column.strip() for column in header) != COLUMNS:
        raise TextLayerError([f"{where}: the header must be {','.join(COLUMNS)}"])
    layer = Layer(name, path=str(source) if isinstance(source, Path) else "")
    problems: list[str] = []
    for number, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        problem = _row_problem(row, dictionary, layer)
        if problem:
            problems.append(f"{where} row {number}: {problem}")
            continue
        variable, element, code, source_text, translated = (cell.strip() for cell in row)
        layer.entries[(variable, element, code)] = (source_text, translated)
    if problems:
        raise TextLayerError(problems)
    return layer


def _row_problem(row: list[str], dictionary: DataDictionary, layer: Layer) -> str:
    if len(row) != len(COLUMNS):
        return f"has {len(row)} cells, not {len(COLUMNS)}"
    variable, element, code, _, translated = (cell.strip() for cell in row)
    if element not in ELEMENTS:
        return f"unknown element {element!r} (one of {', '.join(ELEMENTS)})"
    if element == "form":
        if variable not in dictionary.forms:
            return f"unknown form {variable!r}"
    elif variable not in dictionary:
        return f"unknown variable {variable!r}"
    elif element == "choice":
        codes = [c for c, _ in field_choices(dictionary.field(variable))]
        if code not in codes:
            return f"unknown code {code!r} for {variable} (its codes: {', '.join(codes) or 'none'})"
    elif code:
        return f"a {element} has no code, but {code!r} was given"
    if not translated:
        return "the text is empty"
    if (variable, element, code) in layer.entries:
        return f"{variable} {element} {code}".strip() + " appears twice"
    return ""


def layer_files(directory: Path, stem: str) -> Iterator[tuple[LayerName, Path]]:
    """The layers shipped for the dictionary `stem` in `directory`, by name."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob(f"{stem}.*.csv")):
        yield LayerName.parse(path.name[len(stem) + 1 : -len(".csv")]), path


# --- coverage ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    name: LayerName
    expected: int
    translated: int
    missing: list[Key]
    stale: list[Key]

    @property
    def complete(self) -> bool:
        return not self.missing and not self.stale

    @property
    def percent(self) -> float:
        return 100.0 * self.translated / self.expected if self.expected else 100.0


def coverage(layer: Layer, dictionary: DataDictionary) -> Coverage:
    """How much of what the layer should carry it carries, and which rows are stale."""
    expected = translatable(dictionary, layer.name.audience)
    stale = [key for key in layer.entries if _is_stale(layer, dictionary, key)]
    current = [key for key in expected if key in layer.entries and key not in stale]
    missing = [key for key in expected if key not in layer.entries]
    if layer.name.language == BASE_LANGUAGE:  # the base language itself needs no translation
        missing = []
        current = [key for key in expected if key not in stale]
    return Coverage(layer.name, len(expected), len(current), missing, stale)


def _is_stale(layer: Layer, dictionary: DataDictionary, key: Key) -> bool:
    source, _ = layer.entries[key]
    return source != current_source(dictionary, key, layer.name.audience)


def current_source(dictionary: DataDictionary, key: Key, audience: str | None) -> str:
    """The base text a row of a layer for `audience` translates, as the dictionary has it now."""
    variable, element, code = key
    if element == "form":
        return default_form_title(variable)
    return base_text(dictionary.field(variable), element, code, audience or CLINICIANS)


# --- looking strings up --------------------------------------------------------------------------


class Texts:
    """The words one audience reads in one language: each string from the first layer that
    has it (audience + language, then language), else the dictionary's base text. A stale row
    is passed over."""

    def __init__(
        self,
        dictionary: DataDictionary,
        language: str,
        audience: str,
        layers: Iterable[Layer] = (),
    ) -> None:
        self.dictionary, self.language, self.audience = dictionary, language, audience
        by_name = {layer.name: layer for layer in layers}
        chain = [LayerName(language, audience), LayerName(language)]
        self._chain = [by_name[name] for name in chain if name in by_name]
        self._cache: dict[Key, str] = {}

    def _lookup(self, key: Key, base: str) -> str:
        found = self._cache.get(key)
        if found is not None:
            return found
        text = base
        for layer in self._chain:
            entry = layer.entries.get(key)
            if entry is None:
                continue
            source, translated = entry
            if source == current_source(self.dictionary, key, layer.name.audience):
                text = translated
                break
        self._cache[key] = text
        return text

    def label(self, f: Field) -> str:
        return self._lookup((f.name, "label", ""), base_text(f, "label", audience=self.audience))

    def note(self, f: Field) -> str:
        return self._lookup((f.name, "note", ""), f.note) if f.note else ""

    def section_header(self, f: Field) -> str:
        if not f.section_header:
            return ""
        return self._lookup((f.name, "section_header", ""), f.section_header)

    def unit(self, f: Field) -> str:
        base = base_text(f, "unit")
        return self._lookup((f.name, "unit", ""), base) if base else ""

    def choices(self, f: Field) -> list[tuple[str, str]]:
        return [
            (code, self._lookup((f.name, "choice", code), label))
            for code, label in field_choices(f)
        ]

    def choice(self, f: Field, code: str) -> str:
        return dict(self.choices(f)).get(code, code)

    def form_title(self, form: str) -> str:
        return self._lookup((form, "form", ""), default_form_title(form))


def base_texts(dictionary: DataDictionary, audience: str = CLINICIANS) -> Texts:
    return Texts(dictionary, BASE_LANGUAGE, audience)


def template_rows(
    dictionary: DataDictionary, audience: str | None, layer: Layer | None = None
) -> list[list[str]]:
    """The rows a translator fills in for a layer: every string it should carry, with the
    current source, and the layer's text where it has one that is not stale."""
    rows = []
    for key, source in translatable(dictionary, audience).items():
        text = ""
        if layer is not None and key in layer.entries and layer.entries[key][0] == source:
            text = layer.entries[key][1]
        rows.append([*key, source, text])
    return rows


def write_layer_rows(rows: Iterable[list[str]], out: io.TextIOBase) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
