"""Login throttling with django-axes: which address a login comes from, and the backend that guards it."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


def client_ip(request) -> str | None:
    """The connection's address. Behind a proxy (OPSASSIST_BEHIND_PROXY=True) the server has already
    replaced it with the client address the trusted proxy forwarded; a header a client sends is never read
    here, so it cannot pick the address its failures count against."""
    return request.META.get("REMOTE_ADDR")


class LoginThrottleBackend(AxesStandaloneBackend):
    """Refuses a locked-out username+address pair before any password is checked (ModelBackend, listed
    after it, checks passwords). A call without a request (a script, the test client's `login`) comes from
    no network address and is left to the next backend instead of failing."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
