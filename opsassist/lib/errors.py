"""Errors that services raise and the API turns into 4xx answers."""


class ServiceError(Exception):
    """A refused operation. `field` names the input at fault, when there is one."""

    status_code = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class Conflict(ServiceError):
    status_code = 409
