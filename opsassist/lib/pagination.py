"""Limit/offset paging that keeps the body a plain JSON array and puts paging in headers."""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response


def _query_int(request, name: str, minimum: int) -> int | None:
    """The parameter as an integer ≥ minimum, None when absent; a 400 naming it otherwise (DRF would
    quietly use its default, so a typo answered with the wrong page)."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) < minimum:
        raise ValidationError({name: [f"Must be an integer of at least {minimum}."]})
    return int(raw)


class HeaderLimitOffsetPagination(LimitOffsetPagination):
    """`?limit=` (default 50, max 500) and `?offset=`; `X-Total-Count` and an RFC 8288 `Link` header."""

    default_limit = 50
    max_limit = 500

    def get_limit(self, request):
        limit = _query_int(request, self.limit_query_param, 1)
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request):
        return _query_int(request, self.offset_query_param, 0) or 0

    def get_paginated_response(self, data):
        links = []
        next_url, prev_url = self.get_next_link(), self.get_previous_link()
        if next_url:
            links.append(f'<{next_url}>; rel="next"')
        if prev_url:
            links.append(f'<{prev_url}>; rel="prev"')
        headers = {"X-Total-Count": str(self.count)}
        if links:
            headers["Link"] = ", ".join(links)
        return Response(data, headers=headers)

    def get_paginated_response_schema(self, schema):
        return schema
