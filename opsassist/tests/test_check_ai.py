"""`manage.py check_ai` against a local server speaking the Messages API, through the real `anthropic` client."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import CommandError, call_command

from tests.server import free_port

# The shape of a real Messages API answer (recorded), trimmed to one text block.
RECORDED = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-5-5",
    "content": [{"type": "text", "text": "ready"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 14, "output_tokens": 4},
}
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


class Gateway:
    """A local HTTP server answering POST <prefix>/v1/messages with a canned status and body."""

    def __init__(self, status: int, body: dict):
        self.requests: list[dict] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                gateway.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/gateway"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ai_settings(settings):
    settings.ANTHROPIC_API_KEY = "sk-ant-test-key"
    settings.ANTHROPIC_MODEL = "claude-sonnet-5-5"
    settings.ANTHROPIC_MAX_RETRIES = 0
    settings.ANTHROPIC_TIMEOUT_SECONDS = 5
    return settings


def test_check_ai_sends_one_request_through_the_base_url_and_prints_the_answer(ai_settings, capsys):
    with Gateway(200, RECORDED) as gateway:
        ai_settings.ANTHROPIC_BASE_URL = gateway.url
        call_command("check_ai")
    [request] = gateway.requests
    assert request["path"] == "/gateway/v1/messages"
    # The key goes to the gateway (this SDK sends it as a bearer token), and the API version with it.
    assert "sk-ant-test-key" in request["headers"].get("x-api-key", request["headers"].get("authorization", ""))
    assert request["headers"]["anthropic-version"]
    assert request["body"]["model"] == "claude-sonnet-5-5"
    out = capsys.readouterr().out
    assert f"Endpoint: {gateway.url}" in out
    assert "OK in" in out and "model claude-sonnet-5-5, stop end_turn, tokens in/out 14/4" in out
    assert "Answer: ready" in out
    assert "sk-ant-test-key" not in out


def test_check_ai_fails_with_the_status_and_error_of_the_gateway(ai_settings):
    with Gateway(529, OVERLOADED) as gateway:
        ai_settings.ANTHROPIC_BASE_URL = gateway.url
        with pytest.raises(CommandError, match=r"FAILED: HTTP 529 .*Overloaded") as failure:
            call_command("check_ai")
    assert failure.value.returncode == 1


def test_check_ai_fails_when_the_gateway_is_unreachable(ai_settings):
    ai_settings.ANTHROPIC_BASE_URL = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(CommandError, match="FAILED: APIConnectionError"):
        call_command("check_ai")


def test_check_ai_fails_without_a_key_and_sends_nothing(ai_settings):
    ai_settings.ANTHROPIC_API_KEY = ""
    with Gateway(200, RECORDED) as gateway:
        ai_settings.ANTHROPIC_BASE_URL = gateway.url
        with pytest.raises(CommandError, match="ANTHROPIC_API_KEY is not set"):
            call_command("check_ai")
    assert gateway.requests == []


def test_the_base_url_shown_drops_credentials_and_query():
    from opsassist.lib.urls import display_url

    assert display_url("https://user:pw@gw.example.com:8443/claude?key=x#f") == "https://gw.example.com:8443/claude"
    assert display_url("") == ""


def test_the_command_line_exits_1_on_failure(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {"PATH": "/usr/bin:/bin", "OPSASSIST_VAR_DIR": str(tmp_path), "ANTHROPIC_API_KEY": "sk-ant-test",
           "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{free_port()}", "ANTHROPIC_MAX_RETRIES": "0"}  # fmt: skip
    result = subprocess.run([sys.executable, "manage.py", "check_ai"], cwd=root, env=env, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 1
    assert "FAILED: APIConnectionError" in result.stderr
    assert "sk-ant-test" not in result.stdout + result.stderr
