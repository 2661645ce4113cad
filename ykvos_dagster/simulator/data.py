"""Deterministic data of a simulated VOS3000 softswitch: accounts, customers and CDRs.

Everything here is a pure function of the configuration and the arguments, and performs no
I/O. Each (seed, instance, day, account) gets its own ``random.Random``, seeded from a
BLAKE2b digest. A CDR set is therefore the same whatever the order or grouping of the calls
that produce it, in any process and under any host time zone.

VOS3000 conventions followed by the records:

- ``start`` and ``stop`` are UTC epoch milliseconds. A CDR belongs to the server-local day
  in which the switch wrote it, which is the day of ``stop``. A call that straddles
  midnight therefore has its ``start`` on the previous day.
- A failed call has ``holdTime`` = ``feeTime`` = ``fee`` = 0 and ``start`` == ``stop``.
- Money is ``decimal.Decimal`` with at most 4 decimal places, never a float.
- Text fields are ``""`` rather than ``None``.
- ``flowNo`` is (day ordinal × 100,000 + account index) × 1,000,000 + sequence number of
  the CDR within its account-day. It is unique within one (seed, instance) and stays below
  2**63 for every date up to 9999-12-31.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_ACCOUNTS = 100_000
"""Maximum number of accounts, because flowNo reserves 5 decimal digits for the account."""

MAX_CDRS_PER_ACCOUNT_DAY = 1_000_000
"""Maximum number of CDRs of one account-day, because flowNo reserves 6 digits for them."""

_MS_PER_HOUR = 3_600_000
_MS_PER_DAY = 86_400_000
_FEE_QUANTUM = Decimal("0.0001")
_ZERO = Decimal(0)

# Relative call volume per server-local hour 00..23: quiet at night, peaks late in the
# morning and in the afternoon, a dip at lunch time.
_HOURLY_VOLUME = (
    0.25, 0.15, 0.10, 0.08, 0.08, 0.12, 0.30, 0.90, 2.30, 3.80, 4.40, 4.20,
    2.90, 2.70, 3.90, 4.30, 4.10, 3.40, 2.20, 1.50, 1.20, 0.90, 0.60, 0.40,
)  # fmt: skip
_HOURLY_CUMULATIVE = tuple(sum(_HOURLY_VOLUME[: hour + 1]) for hour in range(24))

# Volume factor per weekday (Monday first). The factors average 1.0 over a week, so
# ``daily_cdrs`` stays the mean over all days.
_WEEKDAY_FACTOR = (1.03, 1.03, 1.03, 1.03, 1.03, 0.94, 0.91)
# Standard deviation of the instance-wide volume factor of a day.
_DAY_NOISE = 0.02

# Share of accounts that are agent (reseller) accounts and of accounts that are locked.
# Neither kind places calls itself.
_AGENT_SHARE = 0.03
_LOCKED_SHARE = 0.02
# Share of days on which an account places calls, by its traffic rank among the accounts
# that call at all. Each tier is (upper rank fraction, lowest share, highest share). The
# busiest accounts call almost every day. With the agents and locked accounts this leaves
# about 30% of all accounts without CDRs on a given day.
_ACTIVITY_TIERS = ((0.15, 0.99, 0.99), (0.5, 0.80, 0.95), (1.0, 0.35, 0.80))
# Spread of the log-normal account weights (each account's share of the traffic) and of the
# day-to-day volume of one account.
_WEIGHT_SIGMA = 1.5
_ACCOUNT_DAY_NOISE = 0.12

# Account names: mostly Chinese company-style names, some ASCII.
_ASCII_ACCOUNT_SHARE = 0.15
_NAME_ROOTS = (
    "华信", "中联", "博通", "天讯", "鼎盛", "恒达", "汇通", "瑞丰", "宏图", "金桥", "东方", "新元",
    "众合", "盛世", "星河", "云帆", "海纳", "启明", "锦程", "腾跃", "嘉和", "安信", "长虹", "德润",
    "飞鸿", "光华", "国瑞", "和泰", "华安", "佳讯", "九州", "凯越", "蓝海", "立信", "美达", "南粤",
    "鹏程", "青松", "荣昌", "尚品", "泰和", "万通", "祥瑞", "信达", "亿联", "远航", "振华", "智通",
    "卓越", "奥维", "百川", "宸宇", "大成", "鼎新", "丰泽", "冠群", "浩然", "宏远",
)  # fmt: skip
_NAME_SUFFIXES = (
    "数科", "科技", "通信", "网络", "信息", "电讯", "传媒", "智联", "云通", "数据", "互联", "讯通",
    "话务", "商务", "实业", "在线",
)  # fmt: skip
_ASCII_WORDS = (
    "acme", "asia", "bright", "delta", "ever", "fast", "globe", "harbor", "metro", "nova",
    "orient", "pacific", "prime", "sky", "star", "uni",
)  # fmt: skip
_ASCII_SUFFIXES = ("tel", "voip", "link", "call", "net", "com")
_CITIES = (
    ("深圳", "0755", "518000"), ("广州", "020", "510000"), ("上海", "021", "200000"),
    ("北京", "010", "100000"), ("杭州", "0571", "310000"), ("厦门", "0592", "361000"),
    ("成都", "028", "610000"), ("武汉", "027", "430000"), ("南京", "025", "210000"),
    ("苏州", "0512", "215000"), ("东莞", "0769", "523000"), ("长沙", "0731", "410000"),
    ("福州", "0591", "350000"), ("重庆", "023", "400000"), ("天津", "022", "300000"),
)  # fmt: skip
_CONTACT_NAMES = ("张伟", "王芳", "李娜", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴婷")
_MEMOS = ("", "", "", "月结客户", "预付费", "重点客户", "测试账户", "批发线路")
_BANKS = ("", "中国银行", "工商银行", "招商银行", "建设银行")

# Rate groups with their per-minute rate of a national long-distance call (callLevel 4).
_RATE_GROUPS = (
    ("标准费率", Decimal("0.0600")),
    ("批发A", Decimal("0.0350")),
    ("批发B", Decimal("0.0400")),
    ("VIP费率", Decimal("0.0300")),
    ("国内长途", Decimal("0.0500")),
    ("优惠套餐", Decimal("0.0450")),
)
# Per-minute rate of each callLevel as a multiple of the national long-distance rate.
# callLevel: 1 on-net, 2 local, 4 national long distance, 5 international.
_LEVEL_RATE_FACTOR = {1: Decimal("0.2"), 2: Decimal("0.6"), 4: Decimal(1), 5: Decimal(8)}
_ROUTING_PREFIXES = ("222", "333", "555", "168", "8801", "9901")

_MOBILE_SECOND_DIGITS = "3456789"
_COUNTRY_CODES = ("852", "853", "886", "65", "60", "84", "63", "1", "44", "81")

_CALLER_PRODUCTS = (
    "FreeSWITCH-mod_sofia/1.10.7-release~64bit",
    "Asterisk PBX 18.12.0",
    "Yeastar S100",
    "Grandstream GXW4216",
    "VOS3000 V2.1.8.05",
    "",
)
_CALLEE_PRODUCTS = ("", "", "Cisco-SIPGateway/IOS-15.x", "Huawei SoftX3000", "FreeSWITCH")

# Routing (egress) gateways, named after carrier and province as Chinese operators do.
_CARRIERS = ("移动", "联通", "电信")
_PROVINCES = ("广东", "江苏", "浙江", "山东", "河南", "四川", "湖北", "福建")
_INTERNATIONAL_GATEWAYS = ("国际落地-香港", "国际落地-新加坡")
_DOMESTIC_GATEWAY_COUNT = 10

# endReason of failed calls. Positive values are SIP responses from the far end
# (endDirection 1). The negative value is an internal VOS3000 reason for a call rejected
# before any routing gateway was tried (endDirection 2, no callee gateway or IP).
# NOTE: -69 is the only negative endReason observed on real switches, and its weight here is
# a guess.
_FAILURE_REASONS = (486, 487, 480, 503, 404, 408, -69)
_FAILURE_CUMULATIVE = (25, 50, 64, 78, 85, 91, 100)
_REJECTED_BEFORE_ROUTING = -69

# Talk time of answered calls: log-normal with a median of 40 s, capped at two hours.
_HOLD_TIME_MU = math.log(40.0)
_HOLD_TIME_SIGMA = 1.1
_MAX_CALL_MS = 2 * _MS_PER_HOUR
# Answered calls that end in the first minutes of the day start before midnight with this
# probability, so every busy day has a few CDRs whose ``start`` is on the previous day.
_STRADDLE_WINDOW_MS = 15 * 60_000
_STRADDLE_PROBABILITY = 0.5


@dataclass(frozen=True)
class SimulatorConfig:
    """Settings of one simulated VOS3000 server.

    Attributes:
        seed: Seed of all generated data.
        instance: Name of the simulated server. Together with the seed it selects the account
            list, the gateways and every CDR.
        accounts: Number of accounts, at most 100,000.
        daily_cdrs: Mean number of CDRs per day over all accounts. Weekdays get about 3% more,
            weekends about 7% less.
        timezone: The switch's server-local time zone as an IANA key, for example
            "Asia/Shanghai". GetCdr days are days in this zone.
        max_span_days: Maximum number of days, inclusive, that one GetCdr request may cover.
        path_prefix: URL path under which the interfaces are served, for example
            "/external/server". A trailing slash is removed.
    """

    seed: int = 1
    instance: str = "sim"
    accounts: int = 200
    daily_cdrs: int = 20_000
    timezone: str = "Asia/Shanghai"
    max_span_days: int = 31
    path_prefix: str = "/external/server"

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if not isinstance(self.instance, str) or not self.instance:
            raise ValueError(f"instance must be a non-empty string, got {self.instance!r}")
        if not 1 <= self.accounts <= MAX_ACCOUNTS:
            raise ValueError(
                f"accounts must be between 1 and {MAX_ACCOUNTS}, got {self.accounts!r}"
            )
        if self.daily_cdrs < 0:
            raise ValueError(f"daily_cdrs must not be negative, got {self.daily_cdrs!r}")
        if self.max_span_days < 1:
            raise ValueError(f"max_span_days must be at least 1, got {self.max_span_days!r}")
        _load_zone(self.timezone)

        prefix = self.path_prefix.rstrip("/")
        if prefix and not prefix.startswith("/"):
            raise ValueError(f"path_prefix must start with '/', got {self.path_prefix!r}")
        if any(character in prefix for character in "?# "):
            raise ValueError(
                f"path_prefix must be a plain URL path without '?', '#' or spaces, "
                f"got {self.path_prefix!r}"
            )
        object.__setattr__(self, "path_prefix", prefix)

    @property
    def zone(self) -> ZoneInfo:
        """The server-local time zone."""
        return _load_zone(self.timezone)


def _load_zone(key: str) -> ZoneInfo:
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise ValueError(
            f"invalid time zone {key!r}: use an IANA time zone key such as 'Asia/Shanghai'"
        ) from error


@dataclass(frozen=True, slots=True)
class _RoutingGateway:
    name: str
    ip: str
    product_id: str
    tech_prefix: str
    caller_rewrite: str


@dataclass(frozen=True, slots=True)
class _Account:
    """Fixed attributes of one account, from which its customer record and CDRs follow."""

    index: int
    account: str
    name: str
    city: int
    weight: float
    activity_draw: float
    locked: bool
    canceled: bool
    is_agent: bool
    agent_draw: float
    agent_pick: float
    billing_period: int
    rate_group: int
    agent_rate_factor: Decimal
    answer_ratio: float
    routing_prefix: str
    mapping_gateways: tuple[str, ...]
    caller_ips: tuple[str, ...]
    caller_products: tuple[str, ...]
    caller_numbers: tuple[str, ...]
    routing_gateways: tuple[int, ...]
    routing_cumulative: tuple[float, ...]
    international_share: float
    billing_mode: int
    customer_seed: int


@dataclass(frozen=True, slots=True)
class _Traffic:
    """Per-account values that depend on the whole account list."""

    activity: float
    share: float
    agent: _Account | None


def _stable_random(*parts: object) -> random.Random:
    """Return a Random seeded from a BLAKE2b digest of the parts, identical in every process."""
    text = "\x1f".join(str(part) for part in parts)
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _activity(rank_fraction: float, draw: float) -> float:
    """Return the share of days on which an account calls, from its traffic rank and a draw."""
    for upper_rank, lowest, highest in _ACTIVITY_TIERS:
        if rank_fraction < upper_rank:
            return lowest + (highest - lowest) * draw
    return _ACTIVITY_TIERS[-1][2]


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit = math.exp(-mean)
    count = 0
    product = rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _mobile_number(rng: random.Random) -> str:
    return f"1{rng.choice(_MOBILE_SECOND_DIGITS)}{rng.randrange(10**9):09d}"


def _landline_number(rng: random.Random, area_code: str) -> str:
    return f"{area_code}{rng.randrange(2 * 10**7, 9 * 10**7)}"


def _money(value: Decimal) -> Decimal:
    """Round to 4 decimal places, then drop trailing zeros so that JSON shows 0.04, not 0.0400."""
    rounded = value.quantize(_FEE_QUANTUM, rounding=ROUND_HALF_UP)
    return rounded.normalize() if rounded else _ZERO


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _epoch_ms(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // dt.timedelta(milliseconds=1)


class SimulatedSwitch:
    """Accounts, customers and CDRs of one simulated VOS3000 server.

    Results are computed on demand and are pure functions of the configuration and the
    arguments. Instances are safe to share between threads.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self._zone = self.config.zone
        self._routing_gateways = self._make_routing_gateways()
        self._accounts = self._make_accounts()
        self._by_name = {account.account: account for account in self._accounts}
        self._traffic = self._make_traffic()

    # Accounts and customers.

    def accounts(self) -> list[str]:
        """Return the account numbers in a stable order.

        The list depends only on the seed, the instance and the number of accounts, and a
        longer list starts with the accounts of a shorter one.
        """
        return [account.account for account in self._accounts]

    def customer_briefs(self) -> list[dict]:
        """Return the InfoCustomerBrief records (account, money, limitMoney) of all accounts."""
        briefs = []
        for account in self._accounts:
            customer = self._customer(account)
            briefs.append(
                {
                    "account": customer["account"],
                    "money": customer["money"],
                    "limitMoney": customer["limitMoney"],
                }
            )
        return briefs

    def customers(self, accounts: list[str]) -> list[dict]:
        """Return the InfoCustomer records of the given accounts.

        Unknown accounts are skipped and duplicates are returned once, in the order given.
        """
        records = []
        seen = set()
        for name in accounts:
            account = self._by_name.get(name)
            if account is None or name in seen:
                continue
            seen.add(name)
            records.append(self._customer(account))
        return records

    def customers_by_e164(self, e164s: list[str]) -> list[dict]:
        """Return the InfoCustomer records of the accounts to which the numbers are bound."""
        wanted = set(e164s)
        return [
            customer
            for customer in map(self._customer, self._accounts)
            if wanted.intersection(customer["bindedE164s"])
        ]

    def customers_of_agent(self, agent_account: str) -> list[dict]:
        """Return the InfoCustomer records of the accounts directly below an agent account."""
        return [
            customer
            for customer in map(self._customer, self._accounts)
            if agent_account and customer["agentAccount"] == agent_account
        ]

    # Fixed per-instance data that the inventory interfaces (simulator/inventory.py) derive
    # their gateways, phones and rates from, so that they match the CDRs.

    def account_profiles(self) -> tuple[_Account, ...]:
        """Return the fixed attributes of every account, in the order of ``accounts``."""
        return tuple(self._accounts)

    def routing_gateway_profiles(self) -> tuple[_RoutingGateway, ...]:
        """Return the routing gateways that CDRs name in ``calleeGateway``."""
        return self._routing_gateways

    def traffic_share(self, account: str) -> float:
        """Return the account's share of the switch's calls; 0 for agents and locked accounts."""
        profile = self._by_name.get(account)
        return self._traffic[profile.index].share if profile else 0.0

    # CDRs.

    def cdrs(self, day: dt.date, account: str) -> list[dict]:
        """Return the InfoCdr records that the switch filed under a server-local day.

        Args:
            day: Server-local calendar day in the configured time zone.
            account: Account number. An unknown account has no CDRs.

        Returns:
            One dict per CDR with every InfoCdr field, ordered by ``stop``.
        """
        return list(self.iter_cdrs(day, account))

    def iter_cdrs(self, day: dt.date, account: str) -> Iterator[dict]:
        """Yield the same records as ``cdrs`` one at a time, to bound memory on large days."""
        profile = self._by_name.get(account)
        if profile is None:
            return iter(())
        return self._generate_cdrs(day, profile)

    def day_totals(self, day: dt.date) -> dict:
        """Sum the CDRs of a server-local day over all accounts.

        Returns:
            A dict with ``calls`` (CDR count), ``connected`` (CDRs with holdTime > 0),
            ``duration`` (sum of holdTime over connected CDRs, in seconds),
            ``billed_seconds`` (sum of feeTime) and ``fee`` (sum of fee as a Decimal).
        """
        totals = _empty_totals()
        for account_totals in self.per_account(day).values():
            for key in totals:
                totals[key] += account_totals[key]
        return totals

    def per_account(self, day: dt.date) -> dict[str, dict]:
        """Return ``day_totals``-style sums per account, for accounts with CDRs on the day only."""
        result = {}
        for account in self._accounts:
            totals = _empty_totals()
            for record in self._generate_cdrs(day, account):
                hold_time = record["holdTime"]
                totals["calls"] += 1
                if hold_time > 0:
                    totals["connected"] += 1
                    totals["duration"] += hold_time
                totals["billed_seconds"] += record["feeTime"]
                totals["fee"] += record["fee"]
            if totals["calls"]:
                result[account.account] = totals
        return result

    def day_bounds_ms(self, day: dt.date) -> tuple[int, int]:
        """Return the server-local day as a half-open range of UTC epoch milliseconds.

        Days with a daylight-saving transition are 23 or 25 hours long.
        """
        start = dt.datetime.combine(day, dt.time(0), tzinfo=self._zone)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=self._zone)
        return _epoch_ms(start), _epoch_ms(end)

    # Generation of the fixed per-instance data.

    def _make_routing_gateways(self) -> tuple[_RoutingGateway, ...]:
        config = self.config
        rng = _stable_random(config.seed, config.instance, "routing-gateways")
        names = [f"{carrier}落地-{province}" for carrier in _CARRIERS for province in _PROVINCES]
        rng.shuffle(names)
        names = names[:_DOMESTIC_GATEWAY_COUNT]
        names[0] = "落地网关A"
        names.extend(_INTERNATIONAL_GATEWAYS)

        gateways = []
        for number, name in enumerate(names):
            network = ("198.51.100", "203.0.113")[number % 2]
            gateways.append(
                _RoutingGateway(
                    name=name,
                    ip=f"{network}.{10 + number * 7 + rng.randrange(7)}",
                    product_id=rng.choice(_CALLEE_PRODUCTS),
                    tech_prefix=rng.choice(("", "", "", "9", "0086")),
                    caller_rewrite=rng.choice(("", "", f"0755{rng.randrange(10**8):08d}")),
                )
            )
        return tuple(gateways)

    def _make_accounts(self) -> list[_Account]:
        config = self.config
        names_rng = _stable_random(config.seed, config.instance, "account-names")
        used_bases: dict[str, int] = {}
        domestic_count = len(self._routing_gateways) - len(_INTERNATIONAL_GATEWAYS)

        accounts = []
        for index in range(config.accounts):
            account_name, short_name = _next_account_name(names_rng, used_bases)
            rng = _stable_random(config.seed, config.instance, "account", account_name)
            city = rng.randrange(len(_CITIES))
            area_code = _CITIES[city][1]

            if short_name.isascii():
                customer_name = f"{short_name.title()} Communications Ltd."
            elif rng.random() < 0.5:
                customer_name = short_name
            else:
                customer_name = f"{_CITIES[city][0]}{account_name}有限公司"

            gateway_count = 1 if rng.random() < 0.8 else 2
            mapping_gateways = tuple(
                f"{account_name}对接{number:02d}" for number in range(1, gateway_count + 1)
            )
            caller_ips = tuple(
                f"10.{rng.randrange(1, 255)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                for _ in mapping_gateways
            )
            caller_products = tuple(rng.choice(_CALLER_PRODUCTS) for _ in mapping_gateways)

            weight = rng.lognormvariate(0.0, _WEIGHT_SIGMA)
            number_count = min(40, 1 + int(weight * 3))
            caller_numbers = tuple(
                _mobile_number(rng) if rng.random() < 0.4 else _landline_number(rng, area_code)
                for _ in range(number_count)
            )

            routes = rng.sample(range(domestic_count), k=rng.randint(1, 3))
            route_weights = [rng.uniform(0.2, 1.0) for _ in routes]
            routing_cumulative = tuple(
                sum(route_weights[: position + 1]) for position in range(len(routes))
            )

            accounts.append(
                _Account(
                    index=index,
                    account=account_name,
                    name=customer_name,
                    city=city,
                    weight=weight,
                    activity_draw=rng.random(),
                    locked=rng.random() < _LOCKED_SHARE,
                    canceled=rng.random() < 0.5,
                    is_agent=rng.random() < _AGENT_SHARE,
                    agent_draw=rng.random(),
                    agent_pick=rng.random(),
                    billing_period=60 if rng.random() < 0.6 else 6,
                    rate_group=rng.randrange(len(_RATE_GROUPS)),
                    agent_rate_factor=Decimal(rng.randrange(70, 91)) / 100,
                    answer_ratio=rng.uniform(0.42, 0.58),
                    routing_prefix=rng.choice(_ROUTING_PREFIXES),
                    mapping_gateways=mapping_gateways,
                    caller_ips=caller_ips,
                    caller_products=caller_products,
                    caller_numbers=caller_numbers,
                    routing_gateways=tuple(routes),
                    routing_cumulative=routing_cumulative,
                    international_share=rng.uniform(0.0, 0.15),
                    billing_mode=1 if rng.random() < 0.85 else 0,
                    customer_seed=rng.getrandbits(64),
                )
            )
        return accounts

    def _make_traffic(self) -> dict[int, _Traffic]:
        callers = [
            account for account in self._accounts if not account.locked and not account.is_agent
        ]
        agents = [account for account in self._accounts if account.is_agent]
        total_weight = sum(account.weight for account in callers)
        ranks = {
            account.index: rank
            for rank, account in enumerate(
                sorted(callers, key=lambda item: item.weight, reverse=True)
            )
        }

        traffic = {}
        for account in self._accounts:
            agent = None
            if agents and not account.is_agent and account.agent_draw < 0.3:
                agent = agents[int(account.agent_pick * len(agents))]
            if account.locked or account.is_agent:
                traffic[account.index] = _Traffic(activity=0.0, share=0.0, agent=agent)
                continue
            activity = _activity(ranks[account.index] / len(callers), account.activity_draw)
            traffic[account.index] = _Traffic(
                activity=activity, share=account.weight / total_weight, agent=agent
            )
        return traffic

    def _customer(self, account: _Account) -> dict:
        rng = random.Random(account.customer_seed)
        traffic = self._traffic[account.index]
        city_name, area_code, post_code = _CITIES[account.city]

        limit_money = Decimal(rng.choice((0, 0, 500, 1000, 2000, 5000)))
        if limit_money and rng.random() < 0.35:
            money = -Decimal(rng.randrange(1, int(limit_money) * 100)) / 100
        else:
            money = Decimal(rng.randrange(0, 5_000_000)) / 100
        start_time = dt.datetime(2019, 1, 1, tzinfo=self._zone) + dt.timedelta(
            days=rng.randrange(6 * 365)
        )
        valid_time = 0
        if rng.random() < 0.2:
            valid_time = _epoch_ms(start_time + dt.timedelta(days=3652))
        bound_numbers = []
        if rng.random() < 0.2:
            bound_numbers = rng.sample(
                account.caller_numbers, k=min(len(account.caller_numbers), rng.randint(1, 3))
            )
        agent = traffic.agent

        return {
            "account": account.account,
            "name": account.name,
            "money": money,
            "limitMoney": limit_money,
            "feeRateGroup": _RATE_GROUPS[account.rate_group][0],
            "type": 0,
            "lockType": 1 if account.locked else 0,
            "agentAccount": agent.account if agent else "",
            "phoneBookLimit": rng.choice((0, 0, 100, 500)),
            "canceled": account.locked and account.canceled,
            "startTime": _epoch_ms(start_time),
            "validTime": valid_time,
            "todayConsumption": Decimal(rng.randrange(0, 200_000)) / 100
            if traffic.activity
            else _ZERO,
            "ctdBillingType": 0,
            "category": 1 if account.is_agent else 0,
            "bindedE164s": bound_numbers,
            "memo": rng.choice(_MEMOS),
            "infoCustomerAdditional": {
                "cardType": rng.randrange(6),
                "cardNumber": "",
                "address": f"{city_name}市{rng.choice(_NAME_ROOTS)}路{rng.randint(1, 300)}号",
                "postCode": post_code,
                "linkMan": rng.choice(_CONTACT_NAMES),
                "telephone": _landline_number(rng, area_code),
                "fax": "",
                "email": f"billing{account.index}@example.com",
                "emailCc": "",
                "emailBcc": "",
                "reportType": rng.randrange(4),
                "companyName": account.name,
                "bank": rng.choice(_BANKS),
            },
        }

    # Generation of CDRs.

    def _call_count(self, day: dt.date, account: _Account, rng: random.Random) -> int:
        traffic = self._traffic[account.index]
        config = self.config
        if config.daily_cdrs == 0 or traffic.activity <= 0 or rng.random() >= traffic.activity:
            return 0
        day_rng = _stable_random(config.seed, config.instance, "day", day.isoformat())
        day_factor = _WEEKDAY_FACTOR[day.weekday()] * (1.0 + _DAY_NOISE * day_rng.gauss(0.0, 1.0))
        noise = max(0.3, 1.0 + _ACCOUNT_DAY_NOISE * rng.gauss(0.0, 1.0))
        mean = config.daily_cdrs * day_factor * traffic.share / traffic.activity * noise
        return min(MAX_CDRS_PER_ACCOUNT_DAY, max(1, _poisson(rng, mean)))

    def _generate_cdrs(self, day: dt.date, account: _Account) -> Iterator[dict]:
        config = self.config
        rng = _stable_random(config.seed, config.instance, "cdrs", day.isoformat(), account.account)
        count = self._call_count(day, account, rng)
        if count == 0:
            return

        day_start, day_end = self.day_bounds_ms(day)
        offsets = _stop_offsets(rng, count, day_end - day_start)
        callee_for = _CalleeGenerator(account, self._routing_gateways, rng)
        billing = _Billing(account, self._traffic[account.index].agent)
        agent = billing.agent
        agent_account = agent.account if agent else ""
        agent_name = agent.name if agent else ""
        flow_base = (day.toordinal() * MAX_ACCOUNTS + account.index) * MAX_CDRS_PER_ACCOUNT_DAY
        random_unit = rng.random
        gauss = rng.gauss
        answer_ratio = account.answer_ratio
        caller_numbers = account.caller_numbers
        mapping_count = len(account.mapping_gateways)

        for sequence, offset in enumerate(offsets):
            stop = day_start + offset
            answered = random_unit() < answer_ratio
            mapping = int(random_unit() * mapping_count)
            caller = caller_numbers[int(random_unit() * len(caller_numbers))]
            level, callee, fee_prefix, gateway = callee_for()

            start = stop
            hold_time = fee_time = 0
            fee = agent_fee = _ZERO
            if answered:
                hold_seconds = math.exp(_HOLD_TIME_MU + _HOLD_TIME_SIGMA * gauss(0.0, 1.0))
                duration = min(_MAX_CALL_MS, int(hold_seconds * 1000) + 1)
                if offset < _STRADDLE_WINDOW_MS and random_unit() < _STRADDLE_PROBABILITY:
                    duration = offset + 1_000 + int(random_unit() * 599_000)
                start = stop - duration
                hold_time = -(-duration // 1000)
                fee_time, fee, agent_fee = billing.charge(hold_time, level)
                end_reason = 200 if random_unit() < 0.7 else 0
                end_direction = 0 if random_unit() < 0.55 else 1
            else:
                draw = random_unit() * _FAILURE_CUMULATIVE[-1]
                end_reason = _FAILURE_REASONS[bisect.bisect(_FAILURE_CUMULATIVE, draw)]
                end_direction = 1

            if end_reason == _REJECTED_BEFORE_ROUTING:
                end_direction = 2
                callee_gateway = callee_ip = callee_product = ""
                callee_to_gateway = caller_to_gateway = ""
            else:
                callee_gateway = gateway.name
                callee_ip = gateway.ip
                callee_product = gateway.product_id
                callee_to_gateway = f"{gateway.tech_prefix}{callee}"
                caller_to_gateway = gateway.caller_rewrite or caller

            yield {
                "flowNo": flow_base + sequence,
                "account": account.account,
                "accountName": account.name,
                "callerE164": caller,
                "callerAccessE164": caller,
                "callerToGatewayE164": caller_to_gateway,
                "callerProductId": account.caller_products[mapping],
                "callerGateway": account.mapping_gateways[mapping],
                "callerip": account.caller_ips[mapping],
                "calleeE164": f"{account.routing_prefix}{callee}",
                "calleeAccessE164": callee,
                "calleeToGatewayE164": callee_to_gateway,
                "calleeProductId": callee_product,
                "calleeGateway": callee_gateway,
                "calleeip": callee_ip,
                "start": start,
                "stop": stop,
                "holdTime": hold_time,
                "feeTime": fee_time,
                "fee": fee,
                "feePrefix": fee_prefix,
                "suiteFee": _ZERO,
                "suiteFeeTime": 0,
                "agentAccount": agent_account,
                "agentName": agent_name,
                "agentFee": agent_fee,
                "agentFeeTime": fee_time if agent else 0,
                "agentFeePrefix": fee_prefix if agent else "",
                "agentSuiteFee": _ZERO,
                "agentSuiteFeeTime": 0,
                "callLevel": level,
                "endDirection": end_direction,
                "endReason": end_reason,
                "calleeBilling": 0,
                "billingMode": account.billing_mode,
                "billingType": 0,
            }


def _stop_offsets(rng: random.Random, count: int, day_length: int) -> list[int]:
    """Draw sorted stop times in ms after local midnight that follow the daily traffic curve.

    On a day with a daylight-saving transition the curve is stretched to the day's length,
    so every stop stays inside the day.
    """
    random_unit = rng.random
    hours = rng.choices(range(24), cum_weights=_HOURLY_CUMULATIVE, k=count)
    offsets = sorted(hour * _MS_PER_HOUR + int(random_unit() * _MS_PER_HOUR) for hour in hours)
    if day_length != _MS_PER_DAY:
        offsets = [offset * day_length // _MS_PER_DAY for offset in offsets]
    return offsets


class _CalleeGenerator:
    """Random source of the callee side of calls: callLevel, dialled number, fee prefix, gateway.

    The rate-table prefix (feePrefix) is always a prefix of calleeE164, which is the
    account's routing prefix followed by the dialled number.
    """

    def __init__(
        self, account: _Account, gateways: tuple[_RoutingGateway, ...], rng: random.Random
    ) -> None:
        self._random_unit = rng.random
        self._international_share = account.international_share
        self._area_code = _CITIES[account.city][1]
        self._prefix = account.routing_prefix
        self._domestic = [gateways[index] for index in account.routing_gateways]
        self._cumulative = account.routing_cumulative
        self._international = gateways[-len(_INTERNATIONAL_GATEWAYS) :]

    def __call__(self) -> tuple[int, str, str, _RoutingGateway]:
        random_unit = self._random_unit
        prefix = self._prefix
        level_draw = random_unit()
        if level_draw < self._international_share:
            country = _COUNTRY_CODES[int(random_unit() * len(_COUNTRY_CODES))]
            subscriber = 10**7 + int(random_unit() * 99 * 10**7)
            gateway = self._international[int(random_unit() * len(self._international))]
            return 5, f"00{country}{subscriber}", f"{prefix}00{country}", gateway

        route = bisect.bisect(self._cumulative, random_unit() * self._cumulative[-1])
        gateway = self._domestic[min(route, len(self._domestic) - 1)]
        if level_draw < 0.72:
            second_digit = _MOBILE_SECOND_DIGITS[int(random_unit() * len(_MOBILE_SECOND_DIGITS))]
            subscriber = int(random_unit() * 10**9)
            return 4, f"1{second_digit}{subscriber:09d}", f"{prefix}1", gateway
        if level_draw < 0.97:
            subscriber = 2 * 10**7 + int(random_unit() * 7 * 10**7)
            return 2, f"{self._area_code}{subscriber}", f"{prefix}0", gateway
        extension = int(random_unit() * 10**7)
        return 1, f"8{extension:07d}", prefix[0], gateway


class _Billing:
    """Fee calculator for the answered calls of one account.

    feeTime is the talk time rounded up to the account's billing period. A fee is feeTime / 60
    times the per-minute rate of the callLevel, rounded half up to 4 decimal places.
    """

    def __init__(self, account: _Account, agent: _Account | None) -> None:
        group_rate = _RATE_GROUPS[account.rate_group][1]
        self.agent = agent
        self._period = account.billing_period
        self._rates = {level: group_rate * factor for level, factor in _LEVEL_RATE_FACTOR.items()}
        self._agent_factor = account.agent_rate_factor
        self._cache: dict[tuple[int, int], tuple[int, Decimal, Decimal]] = {}

    def charge(self, hold_time: int, level: int) -> tuple[int, Decimal, Decimal]:
        """Return feeTime, fee and agentFee of an answered call; agentFee is 0 without an agent."""
        period = self._period
        fee_time = -(-hold_time // period) * period
        key = (fee_time, level)
        cached = self._cache.get(key)
        if cached is None:
            rate = self._rates[level]
            fee = _money(fee_time * rate / 60)
            agent_fee = _money(fee_time * rate * self._agent_factor / 60) if self.agent else _ZERO
            cached = self._cache[key] = (fee_time, fee, agent_fee)
        return cached


def _empty_totals() -> dict:
    return {"calls": 0, "connected": 0, "duration": 0, "billed_seconds": 0, "fee": _ZERO}


def _next_account_name(rng: random.Random, used_bases: dict[str, int]) -> tuple[str, str]:
    """Draw a new unique account number and return it with its short company name.

    No word list contains digits, so a repeated base with a counter appended cannot equal
    another base, with or without its own counter.
    """
    if rng.random() < _ASCII_ACCOUNT_SHARE:
        separator = rng.choice(("", "", "_", "-"))
        base = f"{rng.choice(_ASCII_WORDS)}{separator}{rng.choice(_ASCII_SUFFIXES)}"
        short_name = base
        counter_format = "{:02d}"
    else:
        root = rng.choice(_NAME_ROOTS)
        base = f"{root}{rng.choice(_NAME_SUFFIXES)}"
        short_name = root
        counter_format = "{}"

    uses = used_bases.get(base, 0)
    used_bases[base] = uses + 1
    if uses == 0:
        return base, short_name
    return f"{base}{counter_format.format(uses + 1)}", short_name
