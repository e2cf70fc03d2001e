"""The parameters of one REDCap API request, read from its form-encoded (or multipart) body.

REDCap's clients send lists three ways: `fields[0]=a&fields[1]=b` (PyCap, redcapAPI),
`fields[]=a&fields[]=b`, or `fields=a,b` (REDCapR); `list_of` reads all three.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http import HttpRequest, QueryDict
from django.http.multipartparser import MultiPartParserError

from casereports.redcap.errors import RedcapError

FORMATS = ("json", "csv")
_LIST_KEY = re.compile(r"(?P<name>[A-Za-z_]+)(?:\[(?P<index>[0-9]*)\])?")
_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"", "0", "false", "no", "n", "off"}


@dataclass(frozen=True)
class Params:
    post: QueryDict

    @classmethod
    def of(cls, request: HttpRequest) -> Params:
        """The request's parameters; RedcapError when the body is too big or not readable."""
        try:
            post = request.POST
        except RequestDataTooBig:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            raise RedcapError(
                f"The request body is larger than {limit} bytes: import fewer records per "
                "request (for example in batches of 500)"
            ) from None
        except TooManyFieldsSent:
            limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
            raise RedcapError(
                f"The request has more than {limit} parameters: ask for fewer records or "
                "fields by name per request, or for all of them"
            ) from None
        except (MultiPartParserError, SuspiciousOperation) as error:
            raise RedcapError(f"The request body is not readable form data: {error}") from None
        _refuse_nul(post)
        return cls(post)

    def get(self, name: str, default: str = "") -> str:
        return self.post.get(name, default)

    def has(self, name: str) -> bool:
        return name in self.post

    def list_of(self, name: str) -> list[str]:
        """Every value sent as `name`, `name[]` or `name[i]` (in index order), commas split."""
        indexed: list[tuple[int, str]] = []
        for key in self.post:
            match = _LIST_KEY.fullmatch(key)
            if match is None or match["name"] != name:
                continue
            index = int(match["index"]) if match["index"] else -1
            indexed += [(index, value) for value in self.post.getlist(key)]
        indexed.sort(key=lambda item: item[0])
        items = (part.strip() for _, value in indexed for part in value.split(","))
        return list(dict.fromkeys(item for item in items if item))

    def flag(self, name: str) -> bool:
        """A boolean parameter as REDCap's clients write it (true/false, 1/0, True/False)."""
        value = self.get(name).strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise invalid(name)

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(name).strip() or default
        if value not in choices:
            raise invalid(name, f"use one of: {', '.join(choices)}")
        return value

    def data_format(self, name: str = "format") -> str:
        """`format` (or `returnFormat`): json (also when absent) or csv; xml is refused."""
        value = self.get(name).strip().lower() or "json"
        if value == "xml":
            raise RedcapError(f"{name}=xml is not supported by this server: use json or csv")
        if value not in FORMATS:
            raise invalid(name, "use json or csv")
        return value

    def answer_format(self) -> str:
        """The format errors are written in: `returnFormat`, else (for an export, which has
        no `data`) `format`, as PyCap reads them; JSON when neither names csv or xml."""
        fallback = "" if self.has("data") else self.get("format")
        value = (self.get("returnFormat") or fallback).strip().lower()
        return value if value in ("csv", "xml") else "json"


def invalid(name: str, hint: str = "") -> RedcapError:
    message = f'The value of the parameter "{name}" is not valid'
    return RedcapError(f"{message}: {hint}" if hint else message)


def _refuse_nul(post: QueryDict) -> None:
    for key, values in post.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            name = key.replace("\x00", "\\0")[:50]
            raise RedcapError(
                f'The parameter "{name}" holds a NUL character (\\0), which no text may hold'
            )
