"""Run-failure alerts: a sensor that posts every failed run to the webhook in
`YKVOS_ALERT_WEBHOOK_URL`. Without that variable it posts nothing."""

from dagster import DefaultSensorStatus, RunFailureSensorContext, run_failure_sensor

from ykvos_dagster.webhook import RunFailure, post_failure, webhook_url


def _error_text(context: RunFailureSensorContext) -> str:
    messages = []
    for event in context.get_step_failure_events():
        error = event.event_specific_data.error if event.event_specific_data else None
        if error is not None:
            messages.append(f"{event.step_key}: {error.message.strip()}")
    if messages:
        return "\n".join(messages)
    return context.failure_event.message or "no error message recorded"


@run_failure_sensor(
    name="run_failure_webhook_sensor",
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
def run_failure_webhook_sensor(context: RunFailureSensorContext) -> None:
    """Posts each failed run (job, partition, run id, step errors) to the webhook configured in
    the environment variable YKVOS_ALERT_WEBHOOK_URL. Unset, the sensor only logs the failure."""
    run = context.dagster_run
    failure = RunFailure(
        run_id=run.run_id,
        job_name=run.job_name,
        partition=run.tags.get("dagster/partition"),
        error=_error_text(context),
    )
    url = webhook_url()
    if url is None:
        context.log.info(
            f"run {failure.run_id} of {failure.job_name} failed; no alert posted because "
            "YKVOS_ALERT_WEBHOOK_URL is not set"
        )
        return
    post_failure(url, failure)
