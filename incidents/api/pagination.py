"""Paging for the events list: no exact COUNT over millions of rows.

`X-Total-Count` is exact up to COUNT_CAP matching events. Beyond that it is PostgreSQL's planner estimate of
the table's rows when the list is unfiltered, else the cap itself (a lower bound); `X-Total-Count-Kind`
says which: `exact`, `estimate` or `at-least`. `Link: rel="next"` comes from fetching one row more than
the page, so it is right whatever the count says.
"""

from __future__ import annotations

from django.db import connection
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from opsassist.lib.pagination import HeaderLimitOffsetPagination

COUNT_CAP = 10_000


def table_estimate(model) -> int | None:
    """The planner's row estimate for the model's table (PostgreSQL, after ANALYZE), else None."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None


class EventPagination(HeaderLimitOffsetPagination):
    count_kind = "exact"

    def get_count(self, queryset) -> int:
        capped = queryset.order_by()[: COUNT_CAP + 1].count()
        if capped <= COUNT_CAP:
            self.count_kind = "exact"
            return capped
        estimate = None if queryset.query.where else table_estimate(queryset.model)
        if estimate is not None and estimate > COUNT_CAP:
            self.count_kind = "estimate"
            return estimate
        self.count_kind = "at-least"
        return COUNT_CAP + 1

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.limit = self.get_limit(request)
        self.offset = self.get_offset(request)
        self.count = self.get_count(queryset)
        rows = list(queryset[self.offset : self.offset + self.limit + 1])
        self.has_next = len(rows) > self.limit
        return rows[: self.limit]

    def get_next_link(self):
        if not self.has_next:
            return None
        url = replace_query_param(self.request.build_absolute_uri(), self.limit_query_param, self.limit)
        return replace_query_param(url, self.offset_query_param, self.offset + self.limit)

    def get_paginated_response(self, data):
        response: Response = super().get_paginated_response(data)
        response["X-Total-Count-Kind"] = self.count_kind
        return response
