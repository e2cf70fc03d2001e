"""Action tags in Field Annotation: `@TAG`, `@TAG=value`, `@TAG="text"`, `@TAG(args)`."""

from typing import Any

_TAG_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class ActionTagError(ValueError):
    pass


def parse_action_tags(annotation: str) -> dict[str, Any]:
    """Tags (upper-cased names) to their value: the text after `=` or inside `(...)`, or True.

    Text between tags that is not a tag (a note in the annotation) is ignored, as REDCap does.
    """
    tags: dict[str, Any] = {}
    index = 0
    length = len(annotation)
    while index < length:
        if annotation[index] != "@" or (index > 0 and annotation[index - 1] in _TAG_CHARS):
            index += 1
            continue
        end = index + 1
        while end < length and annotation[end] in _TAG_CHARS:
            end += 1
        name = annotation[index:end].upper()
        if len(name) < 2:
            index = end
            continue
        value, index = _tag_value(annotation, end, name)
        tags[name] = value
    return tags


def _tag_value(text: str, position: int, name: str) -> tuple[Any, int]:
    if position < len(text) and text[position] == "(":
        return _parenthesised(text, position, name)
    if position < len(text) and text[position] == "=":
        return _assigned(text, position + 1, name)
    return True, position


def _parenthesised(text: str, start: int, name: str) -> tuple[str, int]:
    depth = 0
    quote = ""
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1 : index].strip(), index + 1
    raise ActionTagError(f"action tag {name}( has no closing parenthesis")


def _assigned(text: str, start: int, name: str) -> tuple[str, int]:
    if start < len(text) and text[start] in "'\"":
        quote = text[start]
        end = text.find(quote, start + 1)
        if end < 0:
            raise ActionTagError(f"action tag {name}= has an unterminated {quote} quote")
        return text[start + 1 : end], end + 1
    end = start
    while end < len(text) and not text[end].isspace():
        end += 1
    return text[start:end], end
