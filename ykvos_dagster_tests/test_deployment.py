"""The production deployment files: docker-compose.yml checked by a Compose parser, the
environment variables it passes against the ones the code reads, .env.example, the Dockerfile
and the PostgreSQL initialisation script."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ykvos_dagster"
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DEPLOYMENT_DOC = ROOT / "docs" / "deployment.md"
OUR_IMAGE = "${YKVOS_IMAGE:-ykvos-dagster:latest}"

# Variables that the code reads but compose leaves unset on purpose.
NOT_PASSED = {
    "YKVOS_CLICKHOUSE_LOCK_TIMEOUT": "applies to the embedded chDB engine, which compose replaces",
}
# One-shot services, which exit instead of serving.
ONE_SHOT_SERVICES = {"migrate", "simulator-register"}

_ENV_READ_PATTERNS = [
    re.compile(r'_ENV\s*=\s*"([A-Z][A-Z0-9_]*)"'),
    re.compile(r'os\.environ\.get\(\s*"([A-Z][A-Z0-9_]*)"'),
    re.compile(r'os\.environ\[\s*"([A-Z][A-Z0-9_]*)"\s*\]'),
    re.compile(r'os\.getenv\(\s*"([A-Z][A-Z0-9_]*)"'),
    re.compile(r'EnvVar\(\s*"([A-Z][A-Z0-9_]*)"'),
    re.compile(r'"([A-Z][A-Z0-9_]*)"\s+(?:not\s+)?in\s+os\.environ'),
]
_INTERPOLATION = re.compile(r"\$\{([A-Z][A-Z0-9_]*)")


def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def _env_references(node) -> set[str]:
    """Return the variables that `{env: NAME}` settings in a parsed dagster.yaml refer to."""
    if isinstance(node, dict):
        if set(node) == {"env"}:
            return {node["env"]}
        return set().union(*(_env_references(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_env_references(value) for value in node))
    return set()


def variables_read_by_code() -> set[str]:
    """Return the environment variables that the package and the root dagster.yaml read."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for pattern in _ENV_READ_PATTERNS:
            names.update(pattern.findall(text))
    dagster_config = yaml.safe_load((ROOT / "dagster.yaml").read_text(encoding="utf-8"))
    return names | _env_references(dagster_config)


def our_services() -> dict[str, dict]:
    return {
        name: service
        for name, service in compose()["services"].items()
        if service.get("image") == OUR_IMAGE
    }


def variables_passed_by_compose() -> set[str]:
    names = set()
    for service in our_services().values():
        environment = service.get("environment") or {}
        assert isinstance(environment, dict), "use the mapping form of environment"
        names.update(environment)
    return names


def variables_set_by_dockerfile() -> set[str]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    names = set()
    for line in text.splitlines():
        if line.startswith("ENV "):
            names.update(re.findall(r"([A-Z][A-Z0-9_]*)=", line))
    return names


def compose_command() -> list[str] | None:
    """Return the command of an installed Compose parser: the docker CLI's compose plugin, or
    the docker-compose program (Debian package docker-compose). Neither needs a Docker engine
    for `config`."""
    docker = shutil.which("docker")
    if docker:
        plugin = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, check=False
        )
        if plugin.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


requires_compose = pytest.mark.skipif(
    compose_command() is None,
    reason="no Compose parser: install the Debian package docker-compose or the docker compose "
    "plugin (`make test` installs docker-compose with apt-get when run as root)",
)


def run_compose(*args: str, env_file: Path) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in env_example() and not key.startswith("COMPOSE_")
    }
    return subprocess.run(
        [*compose_command(), "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@requires_compose
def test_compose_file_is_valid():
    result = run_compose("--profile", "demo", "config", "--quiet", env_file=ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr


@requires_compose
def test_compose_lists_demo_services():
    result = run_compose("--profile", "demo", "config", "--services", env_file=ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr
    services = set(result.stdout.split())
    assert services == {
        "postgres",
        "clickhouse",
        "migrate",
        "code-server",
        "webserver",
        "daemon",
        "simulator",
        "simulator-register",
    }


@requires_compose
def test_compose_requires_passwords(tmp_path):
    without_passwords = tmp_path / "without-passwords.env"
    lines = [f"{key}={value}" for key, value in env_example().items() if "PASSWORD" not in key]
    without_passwords.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_compose("config", "--quiet", env_file=without_passwords)
    assert result.returncode != 0
    assert "PASSWORD in .env" in result.stderr


def test_compose_passes_only_variables_code_reads():
    unread = variables_passed_by_compose() - variables_read_by_code()
    assert not unread, f"compose passes variables that no code reads: {sorted(unread)}"


def test_code_reads_only_variables_compose_passes():
    provided = variables_passed_by_compose() | variables_set_by_dockerfile() | set(NOT_PASSED)
    missing = variables_read_by_code() - provided
    assert not missing, f"the code reads variables that compose never sets: {sorted(missing)}"


def test_variable_scan_finds_known_reads():
    found = variables_read_by_code()
    for name in ("YKVOS_POSTGRES_DSN", "YKVOS_CDR_LOOKBACK_DAYS", "DAGSTER_HOME"):
        assert name in found
    assert "DAGSTER_POSTGRES_PASSWORD" in found


def test_env_example_matches_compose():
    interpolated = set(_INTERPOLATION.findall(COMPOSE_FILE.read_text(encoding="utf-8")))
    assert interpolated == set(env_example())


def test_docs_describe_every_variable():
    text = DEPLOYMENT_DOC.read_text(encoding="utf-8")
    names = variables_read_by_code() | set(env_example())
    undocumented = sorted(name for name in names if f"`{name}`" not in text)
    assert not undocumented, f"docs/deployment.md does not describe {undocumented}"


def test_published_ports_default_to_localhost():
    assert env_example()["PUBLISH_ADDRESS"] == "127.0.0.1"
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("${PUBLISH_ADDRESS:-127.0.0.1}:"), (name, port)


def test_database_ports_published_on_localhost():
    services = compose()["services"]
    assert services["postgres"]["ports"] == [
        "${PUBLISH_ADDRESS:-127.0.0.1}:${POSTGRES_PORT:-5432}:5432"
    ]
    assert len(services["clickhouse"]["ports"]) == 2


def test_long_running_services_have_healthchecks():
    for name, service in compose()["services"].items():
        if name in ONE_SHOT_SERVICES:
            continue
        assert "healthcheck" in service, name
        assert service["healthcheck"]["test"], name


def test_volumes_are_named():
    config = compose()
    named = set(config["volumes"])
    for name, service in config["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), (name, volume)
            else:
                assert source in named, (name, volume)


def test_demo_services_in_demo_profile():
    services = compose()["services"]
    assert services["simulator"]["profiles"] == ["demo"]
    assert services["simulator-register"]["profiles"] == ["demo"]
    assert "--allow-remote" in services["simulator"]["command"]
    for name in ("postgres", "clickhouse", "migrate", "code-server", "webserver", "daemon"):
        assert "profiles" not in services[name], name


def test_postgres_major_matches_embedded():
    import pgserver._commands

    output = subprocess.run(
        [str(pgserver._commands.POSTGRES_BIN_PATH / "postgres"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    embedded_major = re.search(r"PostgreSQL\)? (\d+)", output).group(1)
    image = compose()["services"]["postgres"]["image"]
    assert image.startswith(f"postgres:{embedded_major}"), (image, output)


def test_clickhouse_image_pinned_to_lts():
    image = compose()["services"]["clickhouse"]["image"]
    match = re.fullmatch(r"clickhouse/clickhouse-server:(\d+)\.(\d+)\.\d+\.\d+", image)
    assert match, image
    # ClickHouse publishes its long-term-support releases in March and August: YY.3 and YY.8.
    assert match.group(2) in ("3", "8"), image


def test_dockerfile_installs_with_constraints():
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "\nFROM python:3.11-slim" in text
    installs = re.findall(r"pip install ([^\n&]*)", text)
    assert installs
    for command in installs:
        assert "-c constraints.txt" in command or "--no-deps" in command, command


def test_dockerfile_copies_migrations():
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "COPY sql ./sql" in text
    assert "COPY clickhouse ./clickhouse" in text
    assert "COPY dagster.yaml /opt/dagster/home/dagster.yaml" in text


def test_initdb_script_creates_dagster_database(postgres_dsn):
    import pgserver._commands

    params = psycopg.conninfo.conninfo_to_dict(postgres_dsn)
    database = f"dagster_init_{os.getpid()}"
    environment = {
        **os.environ,
        "PATH": f"{pgserver._commands.POSTGRES_BIN_PATH}:{os.environ['PATH']}",
        "PGHOST": params["host"],
        "POSTGRES_USER": params["user"],
        "POSTGRES_DB": params["dbname"],
        "DAGSTER_POSTGRES_DB": database,
    }
    script = ROOT / "deploy" / "postgres" / "initdb" / "10-create-dagster-database.sh"
    try:
        for _ in range(2):
            result = subprocess.run(
                ["sh", str(script)], env=environment, capture_output=True, text=True, check=False
            )
            assert result.returncode == 0, result.stderr
        with psycopg.connect(postgres_dsn) as connection:
            found = connection.execute(
                "SELECT count(*) FROM pg_database WHERE datname = %s", (database,)
            ).fetchone()[0]
        assert found == 1
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}"')


def test_compose_simulator_command_parses():
    from ykvos_dagster.cli import parse_args
    from ykvos_dagster.simulator.cli import build_parser

    command = compose()["services"]["simulator"]["command"]
    assert command[:2] == ["ykvos", "simulator"]
    args = parse_args(command[1:])
    assert args.simulator_args == command[2:]
    options = build_parser().parse_args(args.simulator_args)
    assert options.host == "0.0.0.0"
    assert options.allow_remote
    assert options.port == 18080


def test_compose_register_command_parses():
    from ykvos_dagster.cli import parse_args

    services = compose()["services"]
    command = services["simulator-register"]["command"]
    args = parse_args(command[1:])
    assert args.base_url == "http://simulator:18080"
    assert args.update
    healthcheck = " ".join(services["simulator"]["healthcheck"]["test"])
    assert "18080" in healthcheck
