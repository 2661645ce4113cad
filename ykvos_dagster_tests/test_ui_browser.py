"""The Dagster UI in headless Chromium: `dagster dev` on 127.0.0.1 over loaded data shows the asset
graph and the partitions of `cdrs`. Screenshots go to `test-artifacts/`."""

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ykvos_dagster_tests.cdr_samples import make_cdr
from ykvos_dagster_tests.test_statistics import load_day

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
PORT = 3200
BASE_URL = f"http://127.0.0.1:{PORT}"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DAY = dt.date(2024, 9, 2)
STARTUP_TIMEOUT_SECONDS = 240
PAGE_TIMEOUT_SECONDS = 90

# Runs that the daemon's sensors request stay queued: the test only looks at the UI.
DAGSTER_YAML = """\
telemetry:
  enabled: false
run_queue:
  max_concurrent_runs: 0
"""


def _require_chromium() -> None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        pytest.skip(
            f"Chromium is not installed ({', '.join(missing)} missing); "
            "install the Debian packages chromium and chromium-driver"
        )


def _fill_dagster_home(dagster_home: Path, slug: str) -> None:
    """Record a loaded `cdrs` partition and materialize its destinations and daily statistics."""
    from dagster import AssetMaterialization, DagsterInstance, materialize

    from ykvos_dagster.assets.cdrs import cdrs
    from ykvos_dagster.assets.destinations import cdr_destinations
    from ykvos_dagster.assets.statistics import statistics_assets
    from ykvos_dagster.definitions import build_resources
    from ykvos_dagster.partitions import instance_partitions, partition_key

    key = partition_key(DAY.isoformat(), slug)
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.add_dynamic_partitions(instance_partitions.name, [slug])
        instance.report_runless_asset_event(
            AssetMaterialization(asset_key="cdrs", partition=str(key), metadata={"rows": 40})
        )
        materialize(
            [cdrs, cdr_destinations, statistics_assets["day"]],
            selection=[cdr_destinations, statistics_assets["day"]],
            partition_key=key,
            instance=instance,
            resources=build_resources(),
        )


def _wait_for_server(process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster dev exited with {process.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"{BASE_URL}/server_info", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    pytest.fail(f"dagster dev did not answer on {BASE_URL} in {STARTUP_TIMEOUT_SECONDS} s")


@pytest.fixture(scope="module")
def dagster_ui(ykvos_home, postgres_dsn, tmp_path_factory):
    """`dagster dev` in its own process group over the session's engines and a Dagster home
    with one materialized partition; the group is ended in teardown."""
    _require_chromium()
    from ykvos_dagster.warehouse.clickhouse import open_client
    from ykvos_dagster.warehouse.postgres import connect
    from ykvos_dagster.warehouse.registry import add_instance, set_enabled

    slug = f"browser-{os.getpid()}"
    with connect(postgres_dsn) as connection:
        instance = add_instance(
            connection,
            slug=slug,
            name="browser check",
            base_url="http://127.0.0.1:9",
            first_day=dt.date(2024, 1, 1),
        )
        # Disabled, so that the daily pull sensor requests no pull from the closed port.
        set_enabled(connection, slug, False)
    records = [make_cdr(index, account=f"acct-{index % 4}") for index in range(1, 41)]
    with open_client() as client:
        load_day(client, instance, DAY, records)
    with connect(postgres_dsn) as connection:
        connection.execute(
            "INSERT INTO cdr_loads (instance, call_day, rows, accounts, answered_calls,"
            " total_fee) VALUES (%s, %s, %s, 4, %s, 0)",
            (slug, DAY, len(records), len(records)),
        )

    dagster_home = tmp_path_factory.mktemp("dagster-ui-home")
    (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML, encoding="utf-8")
    _fill_dagster_home(dagster_home, slug)

    log_path = dagster_home / "dagster-dev.log"
    environment = {**os.environ, "DAGSTER_HOME": str(dagster_home)}
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(REPO / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(PORT),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for_server(process, log_path)
        yield slug
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(dagster_ui, tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1600,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


def _wait_for_texts(driver, texts: list[str], screenshot_name: str) -> None:
    """Wait until the page shows every text; on timeout, save the page and fail with its text."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    def page_text(current) -> str:
        return current.find_element("tag name", "body").text

    try:
        WebDriverWait(driver, PAGE_TIMEOUT_SECONDS).until(
            lambda current: all(text in page_text(current) for text in texts)
        )
    except TimeoutException:
        path = _screenshot(driver, f"failed-{screenshot_name}")
        missing = [text for text in texts if text not in page_text(driver)]
        pytest.fail(
            f"{driver.current_url} did not show {missing} in {PAGE_TIMEOUT_SECONDS} s "
            f"(screenshot {path}); page text: {page_text(driver)[:500]!r}"
        )


def _screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path


def _dismiss_welcome_dialog(driver) -> None:
    """Close the newsletter dialog that a fresh Dagster home shows once, if it appears."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        button = WebDriverWait(driver, 10).until(
            lambda current: current.find_element("xpath", "//button[normalize-space()='Skip']")
        )
    except TimeoutException:
        return
    button.click()


def test_asset_graph_shows_assets(browser):
    # The lineage of cdrs is the asset graph around it: destinations and every statistics asset.
    browser.get(f"{BASE_URL}/assets/cdrs?view=lineage")
    _dismiss_welcome_dialog(browser)
    _wait_for_texts(
        browser,
        # The graph shortens long names in the middle, as in "cdr_statist…_daily".
        ["cdr_destinations", "_daily", "_monthly", "_quarterly", "_yearly", "statistics"],
        "asset-graph.png",
    )
    path = _screenshot(browser, "asset-graph.png")
    assert path.stat().st_size > 10_000


def test_cdrs_partitions_view(browser, dagster_ui):
    browser.get(f"{BASE_URL}/assets/cdrs?view=partitions")
    _dismiss_welcome_dialog(browser)
    _wait_for_texts(browser, ["Partitions", dagster_ui, "Materialized (1)"], "cdrs-partitions.png")
    path = _screenshot(browser, "cdrs-partitions.png")
    assert path.stat().st_size > 10_000
