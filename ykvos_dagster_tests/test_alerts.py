"""Run-failure alerts: the webhook client against a local HTTP receiver, and the sensor on a
failed run of an ephemeral Dagster instance."""

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    Failure,
    build_run_status_sensor_context,
    job,
    op,
)

from ykvos_dagster.alerts import run_failure_webhook_sensor
from ykvos_dagster.webhook import (
    WEBHOOK_URL_ENV,
    RunFailure,
    failure_payload,
    post_failure,
    redact_url,
    webhook_url,
)

SECRET = "T000/B000/s3cr3t-token"


class Receiver:
    """An HTTP server on 127.0.0.1 that records the JSON bodies posted to it."""

    def __init__(self, status: int = 200):
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.paths.append(self.path)
                self.send_response(status)
                self.end_headers()

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/{SECRET}?key={SECRET}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.server.shutdown()
        self.server.server_close()


FAILURE = RunFailure(run_id="run-1", job_name="cdrs_job", partition="2025-03-14|sim", error="boom")


def test_redact_url_drops_path_and_credentials():
    redacted = redact_url(f"https://user:pw@hooks.example.com:8443/services/{SECRET}?t=1")
    assert redacted == "https://hooks.example.com:8443/..."


def test_payload_names_job_partition_and_error():
    payload = failure_payload(FAILURE)
    assert "cdrs_job" in payload["text"]
    assert "2025-03-14|sim" in payload["text"]
    assert payload["run_id"] == "run-1"
    assert payload["error"] == "boom"


def test_payload_truncates_long_errors():
    payload = failure_payload(RunFailure("r", "j", None, "x" * 5000))
    assert len(payload["error"]) < 1600


def test_webhook_off_without_variable(monkeypatch):
    monkeypatch.delenv(WEBHOOK_URL_ENV, raising=False)
    assert webhook_url() is None


def test_webhook_rejects_non_http_url(monkeypatch):
    monkeypatch.setenv(WEBHOOK_URL_ENV, "ftp://example.com/hook")
    with pytest.raises(ValueError, match="not an http"):
        webhook_url()


def test_post_delivers_payload_and_hides_secret(caplog):
    caplog.set_level(logging.INFO)
    with Receiver() as receiver:
        assert post_failure(receiver.url, FAILURE)
    assert receiver.bodies == [failure_payload(FAILURE)]
    assert SECRET not in caplog.text
    assert "127.0.0.1" in caplog.text


def test_rejected_post_is_logged_without_secret(caplog):
    with Receiver(status=403) as receiver:
        assert not post_failure(receiver.url, FAILURE)
    assert "HTTP 403" in caplog.text
    assert SECRET not in caplog.text


def test_unreachable_webhook_is_logged_without_secret(caplog):
    with Receiver() as receiver:
        url = receiver.url
    assert not post_failure(url, FAILURE, timeout=2)
    assert "failed" in caplog.text
    assert SECRET not in caplog.text


@op
def failing_op():
    raise Failure("instance sim day 2025-03-14: GetCdr returned retCode -10033")


@job
def failing_job():
    failing_op()


def failure_context(instance):
    result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    run = instance.get_run_by_id(result.run_id)
    event = next(
        event
        for event in result.all_events
        if event.event_type == DagsterEventType.PIPELINE_FAILURE
    )
    return build_run_status_sensor_context(
        sensor_name=run_failure_webhook_sensor.name,
        dagster_event=event,
        dagster_instance=instance,
        dagster_run=run,
    ).for_run_failure()


def test_sensor_posts_failed_run(monkeypatch):
    with DagsterInstance.ephemeral() as instance, Receiver() as receiver:
        monkeypatch.setenv(WEBHOOK_URL_ENV, receiver.url)
        run_failure_webhook_sensor(failure_context(instance))
    assert len(receiver.bodies) == 1
    body = receiver.bodies[0]
    assert body["job_name"] == "failing_job"
    assert "retCode -10033" in body["error"]
    assert receiver.paths == [f"/hooks/{SECRET}?key={SECRET}"]


def test_sensor_posts_nothing_without_variable(monkeypatch):
    monkeypatch.delenv(WEBHOOK_URL_ENV, raising=False)
    with DagsterInstance.ephemeral() as instance, Receiver() as receiver:
        run_failure_webhook_sensor(failure_context(instance))
    assert receiver.bodies == []
