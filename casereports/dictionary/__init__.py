"""REDCap data dictionaries: read, check, write. Plain Python (no Django)."""

from casereports.dictionary.model import (
    HEADER,
    DataDictionary,
    DictionaryError,
    Field,
    Problem,
    QualityRule,
)
from casereports.dictionary.quality_rules import quality_rules_to_csv, read_quality_rules
from casereports.dictionary.reader import read_dictionary
from casereports.dictionary.validation_types import validate_value

__all__ = [
    "HEADER",
    "DataDictionary",
    "DictionaryError",
    "Field",
    "Problem",
    "QualityRule",
    "quality_rules_to_csv",
    "read_dictionary",
    "read_quality_rules",
    "validate_value",
]
