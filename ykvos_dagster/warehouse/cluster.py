"""ClickHouse cluster mode: the single-server schema rewritten for a replicated cluster.

With `YKVOS_CLICKHOUSE_CLUSTER` set to a cluster of the servers' `remote_servers` configuration,
every migration statement is rewritten before it runs:

- `CREATE TABLE t (...) ENGINE = <X>MergeTree ...` becomes two tables created ON CLUSTER:
  `t_local`, a `Replicated<X>MergeTree` with its own ZooKeeper path
  `/clickhouse/tables/{shard}/{database}/t_local`, and `t`, a `Distributed` table over `t_local`.
  Queries keep reading `t`, so analysts' SQL and the statistics are the same in both modes.
- Views, column changes and drops run ON CLUSTER. Column changes of a replicated table apply to
  both tables, other table changes (indexes, projections, TTL) to `t_local` only.
- Any other statement is rejected, so that a new migration cannot silently skip the cluster.

Writes go to the local table: a load stages rows in a plain MergeTree table on the connected
server and swaps them into `cdrs_local` with `REPLACE PARTITION`, which ReplicatedMergeTree
copies to the other replicas through ZooKeeper. A re-pull therefore stays idempotent as long as
the whole cluster is one shard: with several shards a re-pull through another server would put
the instance-day on a second shard, so `check_cluster` rejects clusters with more than one shard.

NOTE: the tests parse every generated statement with ClickHouse's own parser (chDB), but cluster
mode has not run against a replicated cluster with ZooKeeper or ClickHouse Keeper.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ykvos_dagster import settings

LOCAL_SUFFIX = "_local"
ZOOKEEPER_PATH_PREFIX = "/clickhouse/tables/{shard}/{database}/"
REPLICA_NAME = "{replica}"
REQUIRED_MACROS = ("shard", "replica")

_FLAGS = re.IGNORECASE | re.DOTALL
_CREATE_TABLE = re.compile(
    r"CREATE\s+TABLE\s+(?P<if_not_exists>IF\s+NOT\s+EXISTS\s+)?(?P<name>`?\w+`?)\s*"
    r"\((?P<columns>.*)\)\s*ENGINE\s*=\s*(?P<engine>\w+)\s*(?:\((?P<arguments>[^()]*)\))?"
    r"(?P<rest>.*)",
    _FLAGS,
)
_CREATE_VIEW = re.compile(
    r"CREATE\s+(?P<or_replace>OR\s+REPLACE\s+)?VIEW\s+(?P<if_not_exists>IF\s+NOT\s+EXISTS\s+)?"
    r"(?P<name>`?\w+`?)\s+(?P<rest>AS\s.*)",
    _FLAGS,
)
_ALTER_TABLE = re.compile(r"ALTER\s+TABLE\s+(?P<name>`?\w+`?)\s+(?P<actions>.*)", _FLAGS)
_DROP = re.compile(
    r"DROP\s+(?P<kind>TABLE|VIEW)\s+(?P<if_exists>IF\s+EXISTS\s+)?(?P<name>`?\w+`?)(?P<rest>.*)",
    _FLAGS,
)
_COLUMN_ACTION = re.compile(r"(ADD|DROP|MODIFY|RENAME|COMMENT|CLEAR)\s+COLUMN\b", re.IGNORECASE)


_MACRO = re.compile(r"\{(\w+)\}")


class ClusterConfigurationError(RuntimeError):
    """Raised when the configured cluster cannot hold the schema (missing, sharded, no macros)."""


def _bare(name: str) -> str:
    return name.strip("`")


def local_table(table: str) -> str:
    """Return the table that loads write to: `table` on one server, `table_local` on a cluster."""
    if settings.clickhouse_cluster() is None:
        return table
    return f"{table}{LOCAL_SUFFIX}"


def split_top_level(text: str, separator: str = ",") -> list[str]:
    """Split `text` at `separator` outside parentheses and quotes."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    current: list[str] = []
    for character in text:
        if quote:
            if character == quote:
                quote = None
        elif character in "'`\"":
            quote = character
        elif character == "(":
            depth += 1
        elif character == ")":
            depth -= 1
        elif character == separator and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(character)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


@dataclass(frozen=True)
class ClusterDdl:
    """Rewrites single-server DDL for the cluster `cluster`, in the database `database`."""

    cluster: str
    database: str

    @property
    def on_cluster(self) -> str:
        return f"ON CLUSTER '{self.cluster}'"

    def zookeeper_path(self, table: str) -> str:
        return f"{ZOOKEEPER_PATH_PREFIX}{table}"

    def versions_table_ddl(self) -> str:
        """Return the DDL of `db_versions`, replicated so that every server stores each applied
        version."""
        return (
            f"CREATE TABLE IF NOT EXISTS db_versions {self.on_cluster} (version UInt32,"
            " name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))"
            f" ENGINE = ReplicatedMergeTree('{self.zookeeper_path('db_versions')}',"
            f" '{REPLICA_NAME}') ORDER BY version"
        )

    def rewrite(self, statement: str, replicated_tables: set[str]) -> list[str]:
        """Return the cluster statements that replace one single-server statement.

        `replicated_tables` names the tables that some migration creates with a MergeTree
        engine. On the cluster, each of them exists as `name_local` plus a Distributed `name`.

        Raises:
            ValueError: the statement is of a kind that cluster mode does not rewrite.
        """
        statement = statement.strip().rstrip(";").strip()
        for pattern, rewrite in (
            (_CREATE_TABLE, self._create_table),
            (_CREATE_VIEW, self._create_view),
            (_ALTER_TABLE, self._alter_table),
            (_DROP, self._drop),
        ):
            match = pattern.fullmatch(statement)
            if match is not None:
                return rewrite(match, replicated_tables)
        first_line = statement.splitlines()[0] if statement else ""
        raise ValueError(
            f"cluster mode cannot rewrite the migration statement {first_line!r}: only CREATE "
            "TABLE with a MergeTree engine, CREATE VIEW, ALTER TABLE and DROP TABLE/VIEW are "
            "supported; write the statement so that it is one of these"
        )

    def _create_table(self, match: re.Match, replicated_tables: set[str]) -> list[str]:
        name = _bare(match["name"])
        engine = match["engine"]
        if not engine.endswith("MergeTree") or engine.startswith("Replicated"):
            raise ValueError(
                f"cluster mode replicates MergeTree tables only; table {name} has engine {engine}"
            )
        local = f"{name}{LOCAL_SUFFIX}"
        if_not_exists = "IF NOT EXISTS " if match["if_not_exists"] else ""
        arguments = [f"'{self.zookeeper_path(local)}'", f"'{REPLICA_NAME}'"]
        if match["arguments"] and match["arguments"].strip():
            arguments.append(match["arguments"].strip())
        replicated = (
            f"CREATE TABLE {if_not_exists}{local} {self.on_cluster}\n({match['columns']})\n"
            f"ENGINE = Replicated{engine}({', '.join(arguments)}){match['rest'].rstrip()}"
        )
        distributed = (
            f"CREATE TABLE {if_not_exists}{name} {self.on_cluster} AS {local}\n"
            f"ENGINE = Distributed('{self.cluster}', '{self.database}', '{local}')"
        )
        return [replicated, distributed]

    def _create_view(self, match: re.Match, replicated_tables: set[str]) -> list[str]:
        or_replace = "OR REPLACE " if match["or_replace"] else ""
        if_not_exists = "IF NOT EXISTS " if match["if_not_exists"] else ""
        return [
            f"CREATE {or_replace}VIEW {if_not_exists}{_bare(match['name'])} {self.on_cluster}"
            f" {match['rest']}"
        ]

    def _alter_table(self, match: re.Match, replicated_tables: set[str]) -> list[str]:
        name = _bare(match["name"])
        actions = match["actions"]
        if name not in replicated_tables:
            return [f"ALTER TABLE {name} {self.on_cluster} {actions}"]
        local = f"{name}{LOCAL_SUFFIX}"
        statements = [f"ALTER TABLE {local} {self.on_cluster} {actions}"]
        is_column_action = [
            _COLUMN_ACTION.match(action) is not None for action in split_top_level(actions)
        ]
        if all(is_column_action):
            # The Distributed table has its own column list, which must follow the local one.
            statements.append(f"ALTER TABLE {name} {self.on_cluster} {actions}")
        elif any(is_column_action):
            raise ValueError(
                f"ALTER TABLE {name} mixes column changes with other changes; cluster mode "
                "applies column changes to both tables and the others to the local table only, "
                "so put them in separate statements"
            )
        return statements

    def _drop(self, match: re.Match, replicated_tables: set[str]) -> list[str]:
        name = _bare(match["name"])
        kind = match["kind"].upper()
        if_exists = "IF EXISTS " if match["if_exists"] else ""
        rest = match["rest"].rstrip()
        statements = [f"DROP {kind} {if_exists}{name} {self.on_cluster}{rest}"]
        if kind == "TABLE" and name in replicated_tables:
            local = f"{name}{LOCAL_SUFFIX}"
            statements.append(f"DROP TABLE {if_exists}{local} {self.on_cluster}{rest}")
        return statements


def merge_tree_tables(statements: list[str]) -> set[str]:
    """Return the names of the tables that `statements` create with a MergeTree engine."""
    names = set()
    for statement in statements:
        match = _CREATE_TABLE.fullmatch(statement.strip().rstrip(";").strip())
        if match is not None and match["engine"].endswith("MergeTree"):
            names.add(_bare(match["name"]))
    return names


def resolve_cluster_name(client, cluster: str) -> str:
    """Return `cluster` with a macro such as `{cluster}` replaced by its value on the server."""
    macro = _MACRO.fullmatch(cluster)
    if macro is None:
        return cluster
    return client.query(
        "SELECT getMacro({macro:String})", parameters={"macro": macro.group(1)}
    ).result_rows[0][0]


def check_cluster(client, cluster: str) -> None:
    """Raise ClusterConfigurationError unless the connected server can hold the schema on
    `cluster`: the cluster is defined, has exactly one shard, and the server defines the
    `shard` and `replica` macros used in ZooKeeper paths."""
    name = resolve_cluster_name(client, cluster)
    shards, replicas = client.query(
        "SELECT uniqExact(shard_num), count() FROM system.clusters WHERE cluster = {name:String}",
        parameters={"name": name},
    ).result_rows[0]
    if replicas == 0:
        raise ClusterConfigurationError(
            f"ClickHouse cluster {cluster!r} is not defined in remote_servers of the connected "
            f"server; define it or unset {settings.CLICKHOUSE_CLUSTER_ENV}"
        )
    if shards != 1:
        raise ClusterConfigurationError(
            f"ClickHouse cluster {cluster!r} has {shards} shards; cluster mode supports one shard "
            "with any number of replicas, because a re-pull replaces an instance-day on the "
            "shard of the server it is connected to"
        )
    defined = {
        row[0]
        for row in client.query(
            "SELECT macro FROM system.macros WHERE macro IN {names:Array(String)}",
            parameters={"names": list(REQUIRED_MACROS)},
        ).result_rows
    }
    missing = [macro for macro in REQUIRED_MACROS if macro not in defined]
    if missing:
        raise ClusterConfigurationError(
            f"the connected ClickHouse server defines no macro {', '.join(missing)}; cluster "
            "mode needs <macros><shard>…</shard><replica>…</replica></macros> on every server "
            "for the ZooKeeper paths of replicated tables"
        )


def staging_table_ddl(client, staging: str, source: str) -> str:
    """Return DDL for a plain MergeTree table with the columns, partition key and sorting key
    of `source`, which REPLACE PARTITION accepts as a source for `source`.

    `CREATE TABLE ... AS source` alone would copy a Replicated engine with its ZooKeeper path,
    so the engine is always given.
    """
    rows = client.query(
        "SELECT engine, engine_full FROM system.tables"
        " WHERE database = currentDatabase() AND name = {name:String}",
        parameters={"name": source},
    ).result_rows
    if not rows:
        raise LookupError(f"ClickHouse table {source} not found in the current database")
    engine, engine_full = rows[0]
    clauses = storage_clauses(engine, engine_full)
    return f"CREATE TABLE `{staging}` AS {source} ENGINE = MergeTree{clauses}"


def storage_clauses(engine: str, engine_full: str) -> str:
    """Return what follows the engine in `engine_full` (PARTITION BY, ORDER BY, SETTINGS ...)."""
    if not engine_full.startswith(engine):
        raise ValueError(f"engine_full {engine_full!r} does not start with engine {engine!r}")
    rest = engine_full[len(engine) :]
    if not rest.startswith("("):
        return rest
    depth = 0
    quote: str | None = None
    for index, character in enumerate(rest):
        if quote:
            if character == quote:
                quote = None
        elif character == "'":
            quote = character
        elif character == "(":
            depth += 1
        elif character == ")":
            depth -= 1
            if depth == 0:
                return rest[index + 1 :]
    raise ValueError(f"unbalanced parentheses in engine_full {engine_full!r}")
