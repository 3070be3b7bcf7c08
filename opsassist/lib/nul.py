"""PostgreSQL cannot store U+0000 in text or JSON: requests carrying it are refused with a 400 up front
(JSON bodies in the parser, query strings in the middleware) instead of failing in the database."""

from django.http import JsonResponse
from rest_framework import parsers
from rest_framework.exceptions import ParseError

MESSAGE = "Null characters (U+0000) are not allowed."


def has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if has_nul(data):
            raise ParseError(MESSAGE)
        return data


class RejectNulMiddleware:
    sync_capable, async_capable = True, False

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any(has_nul(k) or has_nul(v) for k, v in request.GET.lists()):
            return JsonResponse({"detail": MESSAGE}, status=400)
        return self.get_response(request)
