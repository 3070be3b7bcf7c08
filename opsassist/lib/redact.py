"""Keeping secrets and remote text out of what people read: URLs with their credentials masked, errors
reduced to their class and status, and a logging filter for HTTP client logs."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger("opsassist.outbound")

MASK = "***"
# Something URL-shaped inside free text (a log line, an exception message).
URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def _netloc(parts) -> str:
    """The URL's host and port with the password masked; a user slot without a password is masked too
    (`redis://secret@host` puts the password there)."""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    if parts.password is not None:
        return f"{parts.username or ''}:{MASK}@{host}{port}"
    if parts.username:
        return f"{MASK}@{host}{port}"
    return f"{host}{port}"


def redact_url(url: str, keep_path: bool = True) -> str:
    """The URL with its password (or lone user slot) and query values replaced by ***; with
    keep_path=False, also the path after its first segment (webhook URLs such as Slack's carry their token
    there). Safe for responses and logs."""
    try:
        parts = urlsplit(str(url))
        netloc = _netloc(parts) if "@" in parts.netloc else parts.netloc
    except ValueError:
        return MASK
    query = "&".join(f"{pair.split('=', 1)[0]}={MASK}" for pair in parts.query.split("&") if pair)
    path = parts.path
    if not keep_path and path.strip("/").count("/") >= 1:
        path = "/" + path.strip("/").split("/", 1)[0] + "/" + MASK
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def redact_urls_in(text: str, keep_path: bool = False) -> str:
    """Every URL inside `text` redacted."""
    return URL_IN_TEXT.sub(lambda m: redact_url(m.group(0), keep_path=keep_path), text)


def scrub(text: str, target: str) -> str:
    """`text` with `target` and its credentials replaced by their redacted forms."""
    if target and target in text:
        text = text.replace(target, redact_url(target))
    try:
        parts = urlsplit(target) if "://" in target else None
    except ValueError:
        parts = None
    for secret in (parts.password, parts.username if parts.password is None else None) if parts else ():
        if secret and len(secret) > 2:
            text = text.replace(secret, MASK)
    return redact_urls_in(text)


def public_error(exc: BaseException) -> str:
    """What every role may read about a failure: the error's class, never the remote side's text (a
    receiver's body, a database's "role does not exist"). Errors whose text we wrote ourselves say
    `public_message = True` and keep it."""
    name = type(exc).__name__
    if getattr(exc, "public_message", False) and str(exc):
        return f"{name}: {exc}"[:1000]
    return name


def log_remote_error(what: str, exc: BaseException | str, target: str = "") -> None:
    """The full remote text, scrubbed of the target's credentials, for the server log only (admins)."""
    text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    log.info("%s failed: %s", what, scrub(text, target)[:2000])


class RedactUrlsFilter(logging.Filter):
    """Installed on the HTTP client loggers (httpx, httpcore): every URL in the message and its arguments
    loses its credentials, query values and secret path before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_urls_in(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._redact(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: self._redact(value) for key, value in record.args.items()}
        return True

    @staticmethod
    def _redact(value):
        if type(value).__name__ == "URL" or (isinstance(value, str) and "://" in value):
            return redact_urls_in(str(value))
        return value
