"""Cluster mode: the DDL generated for a replicated ClickHouse cluster, checked statement by
statement and parsed by the ClickHouse parser of chDB (`formatQuery`), which needs no cluster."""

import re

import pytest

from ykvos_dagster import settings
from ykvos_dagster.warehouse.cluster import (
    ClusterConfigurationError,
    ClusterDdl,
    check_cluster,
    local_table,
    merge_tree_tables,
    split_top_level,
    staging_table_ddl,
    storage_clauses,
)
from ykvos_dagster.warehouse.migrations import load_migrations, migrate_clickhouse, schema_folder

DDL = ClusterDdl(cluster="vos_cluster", database="ykvos")


def cdrs_statement() -> str:
    first = load_migrations(schema_folder("clickhouse"))[0]
    statements = [s for s in first.statements() if "CREATE TABLE IF NOT EXISTS cdrs" in s]
    assert len(statements) == 1
    return statements[0]


def column_list(statement: str) -> str:
    """Return the text between the parentheses of CREATE TABLE, before ENGINE."""
    before_engine = statement[: statement.rindex("ENGINE")]
    return before_engine[before_engine.index("(") + 1 : before_engine.rindex(")")]


def parses(ch, statement: str) -> str:
    """Return the statement as ClickHouse's parser formats it; raise if it does not parse."""
    return ch.query("SELECT formatQuery({q:String})", parameters={"q": statement}).result_rows[0][0]


class RecordingClient:
    """A clickhouse-connect stand-in: canned rows for the cluster checks, recorded commands."""

    def __init__(self, shards=1, replicas=2, macros=("shard", "replica"), applied=()):
        self.shards = shards
        self.replicas = replicas
        self.macros = macros
        self.applied = applied
        self.commands: list[str] = []

    def query(self, sql, parameters=None):
        if "system.clusters" in sql:
            rows = [(self.shards, self.replicas)]
        elif "system.macros" in sql:
            rows = [(macro,) for macro in self.macros]
        elif "getMacro" in sql:
            rows = [("resolved_cluster",)]
        elif "currentDatabase()" in sql:
            rows = [("ykvos",)]
        elif "FROM db_versions" in sql:
            rows = [(version,) for version in self.applied]
        else:
            raise AssertionError(f"unexpected query {sql}")
        return type("Result", (), {"result_rows": rows})()

    def command(self, sql, parameters=None):
        self.commands.append(sql)


def test_cdrs_becomes_replicated_and_distributed():
    local, distributed = DDL.rewrite(cdrs_statement(), {"cdrs"})
    assert local.startswith("CREATE TABLE IF NOT EXISTS cdrs_local ON CLUSTER 'vos_cluster'\n(")
    assert (
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/cdrs_local', "
        "'{replica}')" in local
    )
    assert "PARTITION BY (instance, call_day)" in local
    assert "ORDER BY (instance, call_day, account, flow_no)" in local
    assert distributed == (
        "CREATE TABLE IF NOT EXISTS cdrs ON CLUSTER 'vos_cluster' AS cdrs_local\n"
        "ENGINE = Distributed('vos_cluster', 'ykvos', 'cdrs_local')"
    )


def test_cluster_cdrs_keeps_every_column():
    original = cdrs_statement()
    local, _ = DDL.rewrite(original, {"cdrs"})
    assert column_list(local) == column_list(original)


def test_cluster_statements_parse(ch):
    statements = [
        *DDL.rewrite(cdrs_statement(), {"cdrs"}),
        DDL.versions_table_ddl(),
        *DDL.rewrite("CREATE VIEW IF NOT EXISTS v AS SELECT count() FROM cdrs", {"cdrs"}),
        *DDL.rewrite("ALTER TABLE cdrs ADD COLUMN IF NOT EXISTS x UInt8 DEFAULT 0", {"cdrs"}),
        *DDL.rewrite("ALTER TABLE cdrs ADD INDEX IF NOT EXISTS i account TYPE set(0)", {"cdrs"}),
        *DDL.rewrite("DROP TABLE IF EXISTS cdrs SYNC", {"cdrs"}),
    ]
    for statement in statements:
        formatted = parses(ch, statement)
        assert "ON CLUSTER" in formatted, statement


def test_replicated_engine_keeps_arguments(ch):
    statement = (
        "CREATE TABLE IF NOT EXISTS totals (k String, v UInt64, version UInt32)"
        " ENGINE = ReplacingMergeTree(version) ORDER BY k"
    )
    local, distributed = DDL.rewrite(statement, {"totals"})
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/"
        "totals_local', '{replica}', version) ORDER BY k" in local
    )
    assert "Distributed('vos_cluster', 'ykvos', 'totals_local')" in distributed
    parses(ch, local)


def test_versions_table_is_replicated():
    statement = DDL.versions_table_ddl()
    assert statement.startswith("CREATE TABLE IF NOT EXISTS db_versions ON CLUSTER 'vos_cluster'")
    assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/db_versions'" in statement


def test_view_runs_on_cluster():
    statement = "CREATE OR REPLACE VIEW daily AS SELECT call_day, count() FROM cdrs GROUP BY 1"
    assert DDL.rewrite(statement, {"cdrs"}) == [
        "CREATE OR REPLACE VIEW daily ON CLUSTER 'vos_cluster' AS SELECT call_day, count()"
        " FROM cdrs GROUP BY 1"
    ]


def test_column_change_applies_to_both_tables():
    statements = DDL.rewrite(
        "ALTER TABLE cdrs ADD COLUMN IF NOT EXISTS region String, COMMENT COLUMN fee 'money'",
        {"cdrs"},
    )
    assert statements == [
        "ALTER TABLE cdrs_local ON CLUSTER 'vos_cluster' ADD COLUMN IF NOT EXISTS region String,"
        " COMMENT COLUMN fee 'money'",
        "ALTER TABLE cdrs ON CLUSTER 'vos_cluster' ADD COLUMN IF NOT EXISTS region String,"
        " COMMENT COLUMN fee 'money'",
    ]


def test_index_change_applies_to_local_table():
    statements = DDL.rewrite(
        "ALTER TABLE cdrs ADD INDEX caller caller_e164 TYPE bloom_filter", {"cdrs"}
    )
    assert statements == [
        "ALTER TABLE cdrs_local ON CLUSTER 'vos_cluster' ADD INDEX caller caller_e164"
        " TYPE bloom_filter"
    ]


def test_mixed_alter_is_rejected():
    with pytest.raises(ValueError, match="separate statements"):
        DDL.rewrite("ALTER TABLE cdrs ADD COLUMN x UInt8, ADD INDEX i x TYPE minmax", {"cdrs"})


def test_alter_of_other_table_runs_on_cluster():
    assert DDL.rewrite("ALTER TABLE daily MODIFY COMMENT 'x'", {"cdrs"}) == [
        "ALTER TABLE daily ON CLUSTER 'vos_cluster' MODIFY COMMENT 'x'"
    ]


def test_drop_replicated_table_drops_both():
    assert DDL.rewrite("DROP TABLE IF EXISTS cdrs", {"cdrs"}) == [
        "DROP TABLE IF EXISTS cdrs ON CLUSTER 'vos_cluster'",
        "DROP TABLE IF EXISTS cdrs_local ON CLUSTER 'vos_cluster'",
    ]


def test_drop_view_runs_on_cluster():
    assert DDL.rewrite("DROP VIEW IF EXISTS daily", {"cdrs"}) == [
        "DROP VIEW IF EXISTS daily ON CLUSTER 'vos_cluster'"
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO cdrs SELECT * FROM other",
        "RENAME TABLE a TO b",
        "CREATE TABLE m (a UInt8) ENGINE = Memory",
        "CREATE TABLE r (a UInt8) ENGINE = ReplicatedMergeTree('/p', 'r') ORDER BY a",
        "CREATE MATERIALIZED VIEW mv TO t AS SELECT 1",
    ],
)
def test_unsupported_statement_is_rejected(statement):
    with pytest.raises(ValueError):
        DDL.rewrite(statement, set())


def test_merge_tree_tables_found():
    statements = [
        cdrs_statement(),
        "CREATE VIEW IF NOT EXISTS v AS SELECT 1",
        "CREATE TABLE IF NOT EXISTS `loads` (a UInt8) ENGINE = MergeTree ORDER BY a",
    ]
    assert merge_tree_tables(statements) == {"cdrs", "loads"}


def test_split_top_level_ignores_nested_commas():
    text = "ADD COLUMN a Decimal(18, 6), COMMENT COLUMN b 'x, y', ADD INDEX i (a, b) TYPE minmax"
    assert split_top_level(text) == [
        "ADD COLUMN a Decimal(18, 6)",
        "COMMENT COLUMN b 'x, y'",
        "ADD INDEX i (a, b) TYPE minmax",
    ]


def test_migrate_clickhouse_on_cluster_sends_rewritten_ddl():
    client = RecordingClient()
    applied = migrate_clickhouse(client, cluster="vos_cluster")
    versions = [migration.version for migration in load_migrations(schema_folder("clickhouse"))]
    assert applied == versions
    assert client.commands[0] == DDL.versions_table_ddl()
    expected = DDL.rewrite(cdrs_statement(), {"cdrs"})
    assert client.commands[1:3] == expected
    inserts = [command for command in client.commands if command.startswith("INSERT")]
    assert len(inserts) == len(versions)
    for command in client.commands:
        if not command.startswith("INSERT"):
            assert "ON CLUSTER 'vos_cluster'" in command, command


def test_migrate_clickhouse_on_cluster_skips_applied():
    versions = [migration.version for migration in load_migrations(schema_folder("clickhouse"))]
    client = RecordingClient(applied=versions)
    assert migrate_clickhouse(client, cluster="vos_cluster") == []
    assert client.commands == [DDL.versions_table_ddl()]


def test_cluster_not_defined_is_rejected():
    with pytest.raises(ClusterConfigurationError, match="not defined in remote_servers"):
        check_cluster(RecordingClient(shards=0, replicas=0), "vos_cluster")


def test_sharded_cluster_is_rejected():
    with pytest.raises(ClusterConfigurationError, match="has 2 shards"):
        check_cluster(RecordingClient(shards=2, replicas=4), "vos_cluster")


def test_missing_macros_are_rejected():
    with pytest.raises(ClusterConfigurationError, match="no macro replica"):
        check_cluster(RecordingClient(macros=("shard",)), "vos_cluster")


def test_cluster_macro_is_resolved():
    client = RecordingClient()
    check_cluster(client, "{cluster}")


def test_single_shard_cluster_is_accepted():
    check_cluster(RecordingClient(shards=1, replicas=3), "vos_cluster")


def test_local_table_follows_setting(monkeypatch):
    monkeypatch.delenv(settings.CLICKHOUSE_CLUSTER_ENV, raising=False)
    assert local_table("cdrs") == "cdrs"
    monkeypatch.setenv(settings.CLICKHOUSE_CLUSTER_ENV, "vos_cluster")
    assert local_table("cdrs") == "cdrs_local"


@pytest.mark.parametrize("name", ["vos cluster", "vos'; DROP TABLE cdrs", "a\\b"])
def test_invalid_cluster_name_is_rejected(monkeypatch, name):
    monkeypatch.setenv(settings.CLICKHOUSE_CLUSTER_ENV, name)
    with pytest.raises(ValueError, match="not a valid cluster name"):
        settings.clickhouse_cluster()


def test_storage_clauses_of_replicated_engine():
    engine_full = (
        "ReplicatedMergeTree('/clickhouse/tables/{shard}/ykvos/cdrs_local', '{replica}')"
        " PARTITION BY (instance, call_day) ORDER BY (instance, call_day, account, flow_no)"
        " SETTINGS index_granularity = 8192"
    )
    assert storage_clauses("ReplicatedMergeTree", engine_full) == (
        " PARTITION BY (instance, call_day) ORDER BY (instance, call_day, account, flow_no)"
        " SETTINGS index_granularity = 8192"
    )


def test_staging_table_matches_cdrs(ch):
    statement = staging_table_ddl(ch, "_staging_cluster_test", "cdrs")
    assert re.match(r"CREATE TABLE `_staging_cluster_test` AS cdrs ENGINE = MergeTree ", statement)
    ch.command(statement)
    try:
        keys = ch.query(
            "SELECT name, engine, partition_key, sorting_key FROM system.tables"
            " WHERE database = currentDatabase() AND name IN ('cdrs', '_staging_cluster_test')"
            " ORDER BY name"
        ).result_rows
    finally:
        ch.command("DROP TABLE IF EXISTS `_staging_cluster_test`")
    assert keys[0][1:] == keys[1][1:]
