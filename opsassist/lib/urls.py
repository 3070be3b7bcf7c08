"""Showing a URL to people without what may be secret in it."""

from __future__ import annotations

from urllib.parse import urlsplit


def display_url(url: str) -> str:
    """scheme://host[:port]/path of `url`: user, password, query and fragment dropped ("" for "")."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(invalid URL)"
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"
