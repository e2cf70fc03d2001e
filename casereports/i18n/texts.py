"""The dictionary's words for a request: the shipped text layers of a dictionary version, read
once per process, and the `Texts` of a language and audience.

Layers are matched to a version by its file's stem (`core_dataset_v1.csv` ->
`core_dataset_v1.es.csv`, ...). A layer that no longer fits the version (an unknown variable or
code) is left out and logged with its problems, so the page falls back to the base text
instead of failing; `manage.py text_layers --check` refuses it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.utils import translation

from casereports.dictionary import DataDictionary
from casereports.models import DictionaryVersion
from casereports.services.dictionaries import dictionary_of
from casereports.textlayers import (
    CLINICIANS,
    Layer,
    LayerName,
    TextLayerError,
    Texts,
    layer_files,
    read_layer,
)

logger = logging.getLogger(__name__)


def layer_stem(version: DictionaryVersion) -> str:
    return Path(version.source_filename or "").stem


_LOADED: dict[tuple[str, str, str], dict[LayerName, Layer]] = {}


def shipped_layers(dictionary: DataDictionary, stem: str, version_hash: str) -> dict:
    """The layers shipped for a dictionary version, read once per process."""
    directory = Path(settings.GDSI_TEXT_LAYERS_DIR)
    key = (str(directory), stem, version_hash)
    if key not in _LOADED:
        layers: dict[LayerName, Layer] = {}
        for name, path in layer_files(directory, stem):
            try:
                layers[name] = read_layer(path, dictionary, name)
            except TextLayerError as refused:
                logger.warning("text layer %s left out: %s", path.name, "; ".join(refused.problems))
        _LOADED[key] = layers
    return _LOADED[key]


def language_code() -> str:
    return translation.get_language() or settings.LANGUAGE_CODE


def texts_for(
    version: DictionaryVersion, audience: str = CLINICIANS, language: str | None = None
) -> Texts:
    """The words `audience` reads in `language` (the active language when None)."""
    language = language or language_code()
    key = (version.content_hash, str(settings.GDSI_TEXT_LAYERS_DIR), language, audience)
    texts = _TEXTS.get(key)
    if texts is None:  # a Texts only looks strings up (and remembers them): one per process
        dictionary = dictionary_of(version)
        stem = layer_stem(version)
        layers = shipped_layers(dictionary, stem, version.content_hash) if stem else {}
        texts = _TEXTS[key] = Texts(dictionary, language, audience, layers.values())
    return texts


_TEXTS: dict[tuple[str, str, str, str], Texts] = {}
