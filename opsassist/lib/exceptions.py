"""One error shape for the whole API: {"detail": ..., "errors": {field: [messages]}}; and Django's error
handlers, which answer that shape on API paths and the usual pages elsewhere."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, DataError, IntegrityError, OperationalError
from django.http import JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from opsassist.lib.errors import ServiceError

DATABASE_UNAVAILABLE = {"detail": "Database unavailable, try again shortly."}
RETRY_AFTER_SECONDS = 5


def exception_handler(exc, context):
    """DRF's handler, plus: validation errors always carry `detail` naming the fields, and a
    database that is down answers 503 instead of a 500."""
    if isinstance(exc, (OperationalError, DatabaseError)) and _is_unavailable(exc):
        return Response(
            DATABASE_UNAVAILABLE,
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    # Safety nets for what validation should have caught: a clear 4xx, never a 500.
    if isinstance(exc, IntegrityError):
        return Response({"detail": "Conflicts with an existing record."}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DataError):  # the database's own text names internals (types, columns): not echoed
        return Response(
            {"detail": "Invalid input: a value does not fit its field."}, status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(too_large_body(), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, ServiceError):
        body = {"detail": exc.message}
        if exc.field:
            body["errors"] = {exc.field: [exc.message]}
        return Response(body, status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if response.status_code == 400 and not (isinstance(response.data, dict) and set(response.data) == {"detail"}):
        response.data = validation_body(response.data)
    return response


def validation_body(data) -> dict:
    """A 400's body from DRF's error structure: `detail` names every bad field, `errors` lists them."""
    errors = flatten_errors(data)
    fields = [name for name in errors if name != "non_field_errors"]
    detail = f"Invalid input: {', '.join(fields)}." if fields else "Invalid input."
    if "non_field_errors" in errors:
        detail = f"{detail} {' '.join(str(m) for m in errors['non_field_errors'])}"
    return {"detail": detail, "errors": errors}


def flatten_errors(data, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as {"field": [...], "[3].level": [...], "payload.summary": [...]}."""
    out: dict[str, list[str]] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, int):
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors" and prefix:
                name = prefix
            out.update(flatten_errors(value, name))
    elif isinstance(data, list) and data and all(isinstance(item, (dict, list)) for item in data):
        for index, item in enumerate(data):
            if item:
                out.update(flatten_errors(item, f"{prefix}[{index}]"))
    else:
        messages = data if isinstance(data, list) else [data]
        out[prefix or "non_field_errors"] = [str(m) for m in messages]
    return out


def _is_unavailable(exc) -> bool:
    text = str(exc).lower()
    return any(word in text for word in ("connection", "could not connect", "timeout", "terminat"))


def too_large_body() -> dict:
    return {"detail": f"Request body over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."}


# --- Django's handler400/403/404/500: JSON on API paths ------------------------------------------------

JSON_PREFIXES = ("/api/", "/integrations/")


def _wants_json(request) -> bool:
    return request.path.startswith(JSON_PREFIXES)


def bad_request(request, exception=None):
    if not _wants_json(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(too_large_body(), status=413)
    return JsonResponse({"detail": "Bad request."}, status=400)


def permission_denied(request, exception=None):
    if not _wants_json(request):
        return defaults.permission_denied(request, exception)
    return JsonResponse({"detail": "You do not have permission to perform this action."}, status=403)


def page_not_found(request, exception=None):
    if not _wants_json(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse({"detail": "Not found."}, status=404)


def server_error(request):
    if not _wants_json(request):
        return defaults.server_error(request)
    return JsonResponse({"detail": "Internal server error."}, status=500)
