"""Pulling the inventory and live state of a VOS3000 instance into PostgreSQL, without Dagster.

Each pull fetches one family of interfaces through `InventoryApi` and returns a `Pulled`:
the writes of its tables and numbers for logs and metadata. `store_pulled` then replaces the
tables and caches the replies in one transaction. The assets run the pulls on a schedule or
on demand; the real-time sensor runs the light ones itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from ykvos_dagster.vos3000.inventory import (
    Alarm,
    Customer,
    FeeRate,
    FeeRateGroup,
    InventoryApi,
    Phone,
    PhoneOnline,
    SoftSwitch,
    Suite,
    customer_from_brief,
)
from ykvos_dagster.warehouse.inventory_store import (
    refresh_gateway_online,
    replace_gateways,
    replace_records,
)
from ykvos_dagster.warehouse.vos_cache import CachePolicy, store_replies

logger = logging.getLogger(__name__)

TableWriter = Callable[[psycopg.Connection, str, dt.datetime], dict[str, int]]


@dataclass
class Pulled:
    """The result of one pull: a writer that replaces its tables, and numbers about it."""

    write: TableWriter
    metrics: dict[str, int | float] = field(default_factory=dict)


@dataclass(frozen=True)
class InventoryPull:
    """One family of interfaces pulled together into one or more tables."""

    name: str
    tables: tuple[str, ...]
    interfaces: tuple[str, ...]
    fetch: Callable[[InventoryApi], Pulled]


def _replace(table: str, record_type: type, records: list) -> TableWriter:
    def write(connection: psycopg.Connection, instance: str, fetched_at: dt.datetime):
        return {
            table: replace_records(connection, table, instance, records, record_type, fetched_at)
        }

    return write


def pull_customers(api: InventoryApi) -> Pulled:
    """Fetch the accounts and balances (GetAllCustomers type 1) and their details
    (GetCustomer)."""
    briefs = api.customer_briefs()
    details = {
        customer.account: customer for customer in api.customers([b.account for b in briefs])
    }
    customers = [details.get(brief.account) or customer_from_brief(brief) for brief in briefs]
    return Pulled(
        _replace("customers", Customer, customers),
        {
            "customers": len(customers),
            "in_debt": sum(customer.is_in_debt for customer in customers),
            "without_details": sum(brief.account not in details for brief in briefs),
        },
    )


def pull_gateways(api: InventoryApi) -> Pulled:
    """Fetch the mapping and routing gateways and both online lists, to be merged."""
    configs = api.mapping_gateways() + api.routing_gateways()
    online = api.mapping_gateways_online() + api.routing_gateways_online()

    def write(connection: psycopg.Connection, instance: str, fetched_at: dt.datetime):
        return {"gateways": replace_gateways(connection, instance, configs, online, fetched_at)}

    return Pulled(
        write,
        {
            "mapping_gateways": sum(gateway.gateway_type == "mapping" for gateway in configs),
            "routing_gateways": sum(gateway.gateway_type == "routing" for gateway in configs),
            **_online_metrics(online),
        },
    )


def pull_gateway_online(api: InventoryApi) -> Pulled:
    """Fetch only the two online lists, for the online columns of `gateways`."""
    online = api.mapping_gateways_online() + api.routing_gateways_online()

    def write(connection: psycopg.Connection, instance: str, fetched_at: dt.datetime):
        return {"gateways": refresh_gateway_online(connection, instance, online, fetched_at)}

    return Pulled(write, _online_metrics(online))


def _online_metrics(online) -> dict[str, int]:
    return {
        "mapping_online": sum(state.gateway_type == "mapping" for state in online),
        "routing_online": sum(state.gateway_type == "routing" for state in online),
        "current_calls": sum(
            state.current_calls or 0 for state in online if state.gateway_type == "mapping"
        ),
    }


def pull_phones(api: InventoryApi) -> Pulled:
    """Fetch the phones (GetPhone) of every account that GetAllCustomers lists."""
    accounts = api.all_accounts()
    phones = api.phones(accounts)
    return Pulled(
        _replace("phones", Phone, phones),
        {"phones": len(phones), "accounts_with_phones": len({phone.account for phone in phones})},
    )


def pull_phones_online(api: InventoryApi) -> Pulled:
    """Fetch the online numbers (GetAllPhoneOnline) and their registrations
    (GetPhoneOnline)."""
    numbers = api.online_phone_numbers()
    online = api.phones_online(numbers)
    return Pulled(
        _replace("phones_online", PhoneOnline, online),
        {
            "online_phones": len(online),
            "listed_online": len(numbers),
            "current_calls": sum(phone.current_calls or 0 for phone in online),
        },
    )


def pull_fee_rates(api: InventoryApi) -> Pulled:
    """Fetch every rate group and all of its rates, with one GetFeeRate per group."""
    groups = api.fee_rate_groups()
    rates = []
    for group in groups:
        rates += api.fee_rates(group.name)

    def write(connection: psycopg.Connection, instance: str, fetched_at: dt.datetime):
        return {
            "fee_rate_groups": replace_records(
                connection, "fee_rate_groups", instance, groups, FeeRateGroup, fetched_at
            ),
            "fee_rates": replace_records(
                connection, "fee_rates", instance, rates, FeeRate, fetched_at
            ),
        }

    return Pulled(write, {"fee_rate_groups": len(groups), "fee_rates": len(rates)})


def pull_suites(api: InventoryApi) -> Pulled:
    suites = api.suites()
    return Pulled(_replace("suites", Suite, suites), {"suites": len(suites)})


def pull_soft_switches(api: InventoryApi) -> Pulled:
    switches = api.soft_switches()
    return Pulled(_replace("soft_switches", SoftSwitch, switches), {"soft_switches": len(switches)})


def pull_performance(api: InventoryApi) -> Pulled:
    sample = api.performance()

    def write(connection: psycopg.Connection, instance: str, fetched_at: dt.datetime):
        replace_records(connection, "vos_performance", instance, [sample], type(sample), fetched_at)
        return {"vos_performance": 1}

    return Pulled(
        write, {"call_size": sample.call_size or 0, "cdr_queue_size": sample.cdr_queue_size or 0}
    )


def pull_alarms(api: InventoryApi) -> Pulled:
    alarms = api.alarms()
    return Pulled(
        _replace("alarms_current", Alarm, alarms),
        {
            "alarms": len(alarms),
            "major_or_critical": sum((alarm.level or 0) >= 2 for alarm in alarms),
            "unconfirmed": sum(alarm.confirm_user is None for alarm in alarms),
        },
    )


PULLS: dict[str, InventoryPull] = {
    pull.name: pull
    for pull in (
        InventoryPull(
            "customers", ("customers",), ("GetAllCustomers", "GetCustomer"), pull_customers
        ),
        InventoryPull(
            "gateways",
            ("gateways",),
            (
                "GetGatewayMapping",
                "GetGatewayRouting",
                "GetGatewayMappingOnline",
                "GetGatewayRoutingOnline",
            ),
            pull_gateways,
        ),
        InventoryPull("phones", ("phones",), ("GetAllCustomers", "GetPhone"), pull_phones),
        InventoryPull(
            "phones_online",
            ("phones_online",),
            ("GetAllPhoneOnline", "GetPhoneOnline"),
            pull_phones_online,
        ),
        InventoryPull(
            "fee_rates",
            ("fee_rate_groups", "fee_rates"),
            ("GetFeeRateGroup", "GetFeeRate"),
            pull_fee_rates,
        ),
        InventoryPull("suites", ("suites",), ("GetSuite",), pull_suites),
        InventoryPull("soft_switches", ("soft_switches",), ("GetSoftSwitch",), pull_soft_switches),
        InventoryPull(
            "vos_performance", ("vos_performance",), ("GetPerformance",), pull_performance
        ),
        InventoryPull("alarms_current", ("alarms_current",), ("GetAlarmCurrent",), pull_alarms),
    )
}
"""The pulls behind the inventory assets, by asset name."""

GATEWAY_ONLINE_PULL = InventoryPull(
    "gateway_online",
    ("gateways",),
    ("GetGatewayMappingOnline", "GetGatewayRoutingOnline"),
    pull_gateway_online,
)
"""The online columns of `gateways` alone, refreshed by the real-time sensor."""


def store_pulled(
    connection: psycopg.Connection,
    instance: str,
    pulled: Pulled,
    api: InventoryApi,
    policy: CachePolicy,
    fetched_at: dt.datetime,
) -> dict[str, int]:
    """Replace the pull's tables and cache its replies in one transaction. Return the rows
    written per table, with the cache rows under `vos_data_cache`."""
    with connection.transaction():
        rows = pulled.write(connection, instance, fetched_at)
        rows["vos_data_cache"] = store_replies(connection, instance, api.replies, policy)
    return rows
