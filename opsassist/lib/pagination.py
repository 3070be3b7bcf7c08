"""Limit/offset paging that keeps the body a plain JSON array and puts paging in headers."""

from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response


class HeaderLimitOffsetPagination(LimitOffsetPagination):
    """`?limit=` (default 50, max 500) and `?offset=`; `X-Total-Count` and an RFC 8288 `Link` header."""

    default_limit = 50
    max_limit = 500

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
