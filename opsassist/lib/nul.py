"""Strict JSON for every request body, and U+0000 kept out of the database.

`loads` is the one JSON reader of request bodies (the DRF parser and the event-loop ingestion path both
call it). It refuses, with a message naming the problem:
- U+0000 anywhere, keys included (PostgreSQL cannot store it in text or JSON);
- a lone UTF-16 surrogate (`"\udfff"`) anywhere: it is not a character, no UTF-8 encoder accepts it;
- a key twice in one object (senders disagree on which one wins, so neither is guessed);
- nesting deeper than MAX_DEPTH (deep documents overflow the stack of whatever walks them later);
- NaN / Infinity, as DRF's own parser does, and numbers too large for a float (`1e999` would be infinity).
Value problems name where they are (`attributes.k`, `[2].tags[0]`) so the sender can find them.
Query strings carrying U+0000 are refused in the middleware.
"""

from __future__ import annotations

import json
import math
import re

from django.conf import settings
from django.http import JsonResponse
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError

from opsassist.lib.errors import ServiceError

MESSAGE = "Null characters (U+0000) are not allowed."
MAX_DEPTH = 64
SURROGATE = re.compile("[\ud800-\udfff]")
SURROGATE_MESSAGE = "Lone surrogates (U+D800 to U+DFFF) are not characters and are not allowed."
INFINITE_MESSAGE = "Number too large (it would be infinite)."


class InvalidJSON(ValueError):
    """A body that is not acceptable JSON; the message says why, and `field` where (a path such as
    `attributes.k` or `[1].service`; empty for the document as a whole)."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field

    def as_body(self) -> dict:
        """The API's 400 body: `detail`, and `errors` under the field's path when there is one."""
        return {"detail": str(self), "errors": {self.field: [str(self)]}} if self.field else {"detail": str(self)}


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self, limit: int):
        super().__init__(f"Request body over {limit} bytes.")


def _unique_pairs(pairs: list) -> dict:
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise InvalidJSON(f"Duplicate key {json.dumps(key)[:80]} in a JSON object.")
        seen[key] = value
    return seen


def _reject_constant(name: str):
    raise InvalidJSON(f"Invalid JSON constant: {name}")


class _Infinite(Exception):
    """A number too large for a float: the document is read again and walked, to name where it is."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Infinite
    return value


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_pairs, parse_constant=_reject_constant,
                            parse_float=_finite_float)  # fmt: skip
_WALKED_DECODER = json.JSONDecoder(object_pairs_hook=_unique_pairs, parse_constant=_reject_constant)


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return MESSAGE
    if SURROGATE.search(text):
        return SURROGATE_MESSAGE
    return None


def _path(link) -> str:
    """`attributes.k[2]` from the chain of (parent link, key or index) the walk keeps."""
    parts: list[str] = []
    while link is not None:
        link, step = link
        if isinstance(step, int):
            parts.append(f"[{step}]")
        else:
            name = json.dumps(step)[1:-1]  # escaped: the key itself may hold the bad character
            parts.append(name[:80] + ("…" if len(name) > 80 else ""))
            parts.append(".")
    text = "".join(reversed(parts))
    return text.removeprefix(".")


def _at(message: str, link) -> InvalidJSON:
    where = _path(link)
    return InvalidJSON(f"{message.removesuffix('.')} (at {where})." if where else message, field=where)


def check_value(value) -> None:
    """Depth, NUL, surrogate and infinity checks over a parsed document, iteratively (no recursion to
    overflow). Each stack entry keeps a link to its parent's, so the path is built only for an error."""
    stack: list[tuple] = [(value, 1, None)]
    while stack:
        item, depth, link = stack.pop()
        if isinstance(item, str):
            if problem := _string_problem(item):
                raise _at(problem, link)
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise _at(INFINITE_MESSAGE, link)
            continue
        if not isinstance(item, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            raise InvalidJSON(f"JSON nested deeper than {MAX_DEPTH} levels.")
        if isinstance(item, dict):
            for key, child in item.items():
                if problem := _string_problem(key):
                    raise _at(problem, (link, key))
                stack.append((child, depth + 1, (link, key)))
        else:
            stack.extend((child, depth + 1, (link, index)) for index, child in enumerate(item))


def loads(raw: bytes | str):
    """The parsed body, or InvalidJSON naming what is wrong."""
    try:
        if isinstance(raw, (bytes, bytearray)):  # as json.loads reads bytes
            text = raw.decode(json.detect_encoding(raw), "surrogatepass")
        elif raw.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", raw, 0)
        else:
            text = raw
        try:
            value = _DECODER.decode(text)
        except _Infinite:
            value = _WALKED_DECODER.decode(text)
            check_value(value)  # raises, naming the number's place
    except RecursionError:  # nested far beyond MAX_DEPTH: the parser gave up before we could count
        raise InvalidJSON(f"JSON nested deeper than {MAX_DEPTH} levels.") from None
    except InvalidJSON:
        raise
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise InvalidJSON(f"JSON parse error - {exc}") from None
    if not _surely_clean(text):
        check_value(value)
    return value


def _surely_clean(text: str) -> bool:
    """Whether a parsed document's text rules out the rest of what check_value looks for, at C speed:
    U+0000 and escaped surrogates need a backslash, raw surrogates a non-ASCII text, and nesting deeper
    than MAX_DEPTH is counted on the brackets outside strings. (Infinite floats were refused while
    parsing.)"""
    return "\\" not in text and (text.isascii() or not SURROGATE.search(text)) and _nested_at_most(text, MAX_DEPTH)


def _nested_at_most(text: str, limit: int) -> bool:
    """Whether valid JSON text without a backslash nests at most `limit` levels: its strings are then exactly
    the `"..."` runs; what is left of its brackets loses one level of innermost pairs per pass."""
    if text.count("{") + text.count("[") <= limit:
        return True
    outside_strings = "".join(text.split('"')[::2])
    brackets = _NOT_BRACKET.sub("", outside_strings).translate(_PARENS)
    for _ in range(limit):
        if not brackets:
            return True
        brackets = brackets.replace("()", "")
    return not brackets


_NOT_BRACKET = re.compile(r"[^{}\[\]]+")
_PARENS = str.maketrans("{[}]", "(())")


def has_nul(value) -> bool:
    """Whether U+0000 is in a string, or in any key or string inside lists and dicts."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            return True
        if isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def read_limited(stream, limit: int) -> bytes:
    """At most `limit` bytes of the body; RequestTooLarge past it (whether or not Content-Length said so)."""
    raw = stream.read(limit + 1) if stream is not None else b""
    if len(raw) > limit:
        raise RequestTooLarge(limit)
    return raw


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, reading through `loads` and refusing bodies over DATA_UPLOAD_MAX_MEMORY_SIZE."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = read_limited(stream, limit) if limit is not None else (stream.read() if stream else b"")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return loads(raw.decode(encoding))
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        except InvalidJSON as exc:
            if exc.field:  # a value that parsed but is not storable: a 400 naming its field, like validation
                raise ServiceError(str(exc), field=exc.field) from None
            raise ParseError(str(exc)) from None


class RejectNulMiddleware:
    sync_capable, async_capable = True, False

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any(has_nul(k) or has_nul(v) for k, v in request.GET.lists()):
            return JsonResponse({"detail": MESSAGE}, status=400)
        return self.get_response(request)
