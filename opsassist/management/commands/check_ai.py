"""`manage.py check_ai`: one real request to the configured Claude endpoint; prints the answer or the reason."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from opsassist.lib.urls import display_url
from remediation import ai

PROMPT = "Reply with the single word: ready"


class Command(BaseCommand):
    help = "Send one short request to Claude (ANTHROPIC_* settings) and print what came back; exit 1 on failure."

    def handle(self, *args, **options):
        endpoint = display_url(settings.ANTHROPIC_BASE_URL) or "the SDK default (api.anthropic.com)"
        self.stdout.write(f"Endpoint: {endpoint}")
        self.stdout.write(f"Model: {settings.ANTHROPIC_MODEL}  timeout: {settings.ANTHROPIC_TIMEOUT_SECONDS:g}s")
        if not settings.ANTHROPIC_API_KEY:
            raise CommandError("ANTHROPIC_API_KEY is not set: analysis uses the built-in rules.")
        message, latency = self._ask()
        text = " ".join(block.text for block in message.content if getattr(block, "type", "") == "text")
        self.stdout.write(
            f"OK in {latency:.0f} ms: model {message.model}, stop {message.stop_reason}, "
            f"tokens in/out {message.usage.input_tokens}/{message.usage.output_tokens}"
        )
        self.stdout.write(f"Answer: {text[:500]}")

    def _ask(self):
        import anthropic
        import httpx2

        client = ai.client()
        started = time.perf_counter()
        try:
            message = client.messages.create(
                model=settings.ANTHROPIC_MODEL, max_tokens=16, messages=[{"role": "user", "content": PROMPT}]
            )
        except anthropic.APIStatusError as exc:
            raise CommandError(f"FAILED: HTTP {exc.status_code} {type(exc).__name__}: {str(exc)[:300]}") from None
        except (anthropic.APIError, httpx2.HTTPError, ValueError) as exc:
            raise CommandError(f"FAILED: {type(exc).__name__}: {str(exc)[:300]}") from None
        return message, (time.perf_counter() - started) * 1000
