"""Middleware that keeps Django's whole middleware chain in sync mode under ASGI.

Django adapts each middleware to the mode of the one inside it. Most middlewares here (Django's own,
django-prometheus) are `MiddlewareMixin` classes that, in async mode, run every `process_request` /
`process_response` through `sync_to_async`: two thread hops per middleware per request, and WhiteNoise,
being sync-only, forces an `async_to_sync` hop in the middle as well. Put last, this sync-only
middleware makes every outer one sync: the chain then costs one hop per request (ASGIHandler's own).
"""

from django_prometheus.middleware import PrometheusAfterMiddleware


class SyncPrometheusAfterMiddleware(PrometheusAfterMiddleware):
    sync_capable = True
    async_capable = False
