"""Posting run-failure alerts to a webhook (Slack-compatible JSON), without Dagster.

The URL usually carries a secret token in its path or query, so only its scheme and host ever
reach logs and error messages. The request goes through urllib because httpx logs every request
URL at INFO level.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

WEBHOOK_URL_ENV = "YKVOS_ALERT_WEBHOOK_URL"
TIMEOUT_SECONDS = 10.0
_MAX_ERROR_CHARS = 1500


@dataclass(frozen=True)
class RunFailure:
    run_id: str
    job_name: str
    partition: str | None
    error: str


def webhook_url() -> str | None:
    """Return the configured webhook URL, or None when alerts are off (the default)."""
    url = os.environ.get(WEBHOOK_URL_ENV, "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{WEBHOOK_URL_ENV} is not an http(s) URL (scheme {parts.scheme!r}); "
            "expected for example https://hooks.example.com/services/..."
        )
    return url


def redact_url(url: str) -> str:
    """Return scheme, host and port of `url`, without credentials, path or query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}/..."


def failure_payload(failure: RunFailure) -> dict:
    """Build the JSON body: `text` for chat webhooks plus the fields for other receivers."""
    where = f" (partition {failure.partition})" if failure.partition else ""
    error = failure.error.strip()
    if len(error) > _MAX_ERROR_CHARS:
        error = error[:_MAX_ERROR_CHARS] + " ..."
    return {
        "text": f"ykvos run failed: {failure.job_name}{where}, run {failure.run_id}\n{error}",
        "run_id": failure.run_id,
        "job_name": failure.job_name,
        "partition": failure.partition,
        "error": error,
    }


def post_failure(url: str, failure: RunFailure, timeout: float = TIMEOUT_SECONDS) -> bool:
    """Post `failure` to `url`; return True on a 2xx reply.

    Errors are logged with the redacted URL and not raised, so one unreachable receiver does not
    stop the alerts of later failures.
    """
    target = redact_url(url)
    body = json.dumps(failure_payload(failure)).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        logger.error(
            "Posting the failure of run %s to the webhook at %s failed: %s",
            failure.run_id,
            target,
            str(reason).replace(url, target),
        )
        return False
    if not 200 <= status < 300:
        logger.error(
            "The webhook at %s rejected the failure alert of run %s with HTTP %d",
            target,
            failure.run_id,
            status,
        )
        return False
    logger.info("Posted the failure of run %s to the webhook at %s", failure.run_id, target)
    return True
