"""One error shape for the whole API: {"detail": ..., "errors": {field: [messages]}}."""

from django.db import DatabaseError, OperationalError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """DRF's handler, plus: validation errors always carry `detail` naming the fields, and a
    database that is down answers 503 instead of a 500."""
    if isinstance(exc, (OperationalError, DatabaseError)) and _is_unavailable(exc):
        return Response(
            {"detail": "Database unavailable, try again shortly."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if response.status_code == 400 and not (isinstance(response.data, dict) and "detail" in response.data):
        errors = response.data
        fields = sorted(errors) if isinstance(errors, dict) else []
        detail = f"Invalid input: {', '.join(fields)}." if fields else "Invalid input."
        response.data = {"detail": detail, "errors": errors}
    return response


def _is_unavailable(exc) -> bool:
    text = str(exc).lower()
    return any(word in text for word in ("connection", "could not connect", "timeout", "terminat"))
