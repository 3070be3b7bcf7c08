"""The outbound policy: which addresses OpsAssist may connect to on a user's behalf.

Checked twice: on write (a monitor's target, a channel's URL; the API answers 400 naming the field) and
at connect time against the address the name resolves to *then*, and the connection goes to exactly that
checked address, so a name that re-resolves into the deny list later (DNS rebinding) is refused too.

`OUTBOUND_DENY` holds CIDRs and host names (a name also covers its sub-domains); `OUTBOUND_ALLOW`, when
not empty, holds the only CIDRs allowed. IP spellings are normalised before the check (decimal, octal and
hex IPv4, IPv4 inside IPv6 such as ::ffff:169.254.169.254, NAT64 and 6to4).
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache
from urllib.parse import urlsplit

import httpcore
import httpx
import redis
from django.conf import settings

from opsassist.lib.errors import ServiceError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")
LEGACY_IPV4_CHARS = set("0123456789abcdefABCDEFxX.")
# A Unix socket path (PostgreSQL) counts as this address: allowed exactly when loopback is.
LOCAL_SOCKET_ADDRESS = "127.0.0.1"


class OutboundRefused(ServiceError):
    """The outbound policy forbids this destination. The text is ours, safe to show to every role; the
    API answers 400 naming `target` when one escapes to it (e.g. a drill on a re-resolved name)."""

    public_message = True
    permanent = True

    def __init__(self, message: str, field: str | None = "target"):
        super().__init__(message, field)


@lru_cache(maxsize=8)
def _policy(deny: tuple[str, ...], allow: tuple[str, ...]) -> tuple[list, list[str], list]:
    networks, names = [], []
    for entry in deny:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            names.append(entry.strip().lower().rstrip("."))
    return networks, [n for n in names if n], [ipaddress.ip_network(e.strip(), strict=False) for e in allow]


def policy() -> tuple[list, list[str], list]:
    """(denied networks, denied names, allowed networks) from the settings."""
    return _policy(tuple(settings.OUTBOUND_DENY), tuple(settings.OUTBOUND_ALLOW))


def parse_ip(host: str) -> IPAddress | None:
    """The address `host` spells, in any spelling a resolver accepts (2852039166, 0251.0376.0251.0376,
    0xa9fea9fe, [::ffff:a9fe:a9fe]); None for a name."""
    host = host.strip().strip("[]").split("%", 1)[0].rstrip(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and set(host) <= LEGACY_IPV4_CHARS:
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def embedded(address: IPAddress) -> list[IPAddress]:
    """The address and every IPv4 address carried inside it."""
    found = [address]
    if isinstance(address, ipaddress.IPv6Address):
        v4 = address.ipv4_mapped or address.sixtofour
        if v4 is None and address in NAT64:
            v4 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if v4 is None and int(address) >> 32 == 0 and int(address) > 1:  # deprecated ::a.b.c.d
            v4 = ipaddress.IPv4Address(int(address))
        if address.teredo:
            found.extend(address.teredo)
        if v4 is not None:
            found.append(v4)
    return found


def check_address(address: IPAddress | str) -> None:
    """Raises OutboundRefused when the address is denied, or outside OUTBOUND_ALLOW when that is set."""
    if isinstance(address, str):
        address = ipaddress.ip_address(address.split("%", 1)[0])
    deny, _, allow = policy()
    forms = embedded(address)
    for form in forms:
        if any(form.version == net.version and form in net for net in deny):
            raise OutboundRefused(f"{address} is in OUTBOUND_DENY.")
    if allow and not any(f.version == net.version and f in net for f in forms for net in allow):
        raise OutboundRefused(f"{address} is outside OUTBOUND_ALLOW.")


def check_name(host: str) -> None:
    """Refuses a denied host name (or a sub-domain of one) and a denied IP literal in any spelling."""
    address = parse_ip(host)
    if address is not None:
        check_address(address)
        return
    name = host.strip().lower().rstrip(".")
    _, names, _ = policy()
    if any(name == denied or name.endswith("." + denied) for denied in names):
        raise OutboundRefused(f"{name} is in OUTBOUND_DENY.")


def resolve(host: str, port: int | None) -> list[str]:
    """Every address `host` resolves to now, in the resolver's order (the one place names are resolved)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # SOCK_STREAM over IPv4/IPv6: the sockaddr's first item is the address text.
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_addresses(host: str, port: int | None) -> list[str]:
    """Resolve `host` and check the name and every address; connect only to what this returns.
    Raises OutboundRefused, or OSError when the name does not resolve."""
    check_name(host)
    addresses = resolve(host, port)
    for address in addresses:
        check_address(address)
    return addresses


def check_destination(host: str, port: int | None = None) -> None:
    """The write-time check: the name, and what it resolves to now when it resolves at all (a target
    only a host agent can resolve is checked when that agent connects)."""
    check_name(host)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        return
    for address in addresses:
        check_address(address)


def destinations(url: str) -> list[tuple[str, int | None]]:
    """The (host, port) pairs a target URL makes us connect to. PostgreSQL URLs may name several hosts
    and override them in the query (`?host=`, `?hostaddr=`): read them the way libpq does."""
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql"):
        return [(host, port) for host, port, _ in postgres_hosts(url)]
    if not parts.hostname:
        raise OutboundRefused("The URL needs a host.")
    return [(parts.hostname, parts.port)]


def postgres_hosts(target: str) -> list[tuple[str, int | None, str]]:
    """(host, port, hostaddr given) for each host of a libpq connection string; a socket path stands
    for the local machine."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(target)
    if "service" in params:
        raise OutboundRefused("Connection service files are not allowed in a target.")
    hosts = str(params.get("host") or "").split(",")
    addrs = str(params.get("hostaddr") or "").split(",")
    ports = str(params.get("port") or "").split(",")
    count = max(len(hosts), len(addrs))
    pick = lambda values, i: values[i] if i < len(values) else (values[0] if len(values) == 1 else "")  # noqa: E731
    found: list[tuple[str, int | None, str]] = []
    for i in range(count):
        host, addr, port = pick(hosts, i), pick(addrs, i), pick(ports, i)
        if not addr and (not host or host.startswith(("/", "@"))):
            host = LOCAL_SOCKET_ADDRESS
        found.append((addr or host, int(port) if port.isdigit() else 5432, addr))
    return found


def check_url(url: str) -> None:
    """The write-time check of a target or receiver URL. Raises OutboundRefused."""
    try:
        for host, port in destinations(url):
            check_destination(host, port)
    except ValueError:
        raise OutboundRefused("Not a valid URL.") from None


def check_config_urls(config) -> None:
    """Every URL among a channel's or contact's settings passes the write-time check. Raises
    OutboundRefused naming `config.<key>`."""
    for key, value in config.items() if isinstance(config, dict) else ():
        if isinstance(value, str) and "://" in value:
            try:
                check_url(value)
            except OutboundRefused as exc:
                raise OutboundRefused(exc.message, field=f"config.{key}") from None


# Connect time ------------------------------------------------------------------------------------------


def connect_tcp(host: str, port: int, timeout: float | None) -> socket.socket:
    """A TCP connection to a checked address of `host` (the first that answers)."""
    error: OSError = OSError(f"{host} resolved to no address")
    for address in checked_addresses(host, port):
        try:
            return socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            error = exc
    raise error


def postgres_hostaddr(target: str) -> str:
    """The `hostaddr` value to connect a PostgreSQL target with: each host resolved and checked (a
    socket path is checked as the local machine and left to libpq)."""
    values = []
    for host, port, given in postgres_hosts(target):
        if given or host == LOCAL_SOCKET_ADDRESS:
            address = parse_ip(host)
            if address is None:
                raise OutboundRefused("hostaddr must be an IP address.")
            check_address(address)
            values.append(given)
        else:
            values.append(checked_addresses(host, port)[0])
    return ",".join(values) if any(values) else ""


class GuardedRedisConnection(redis.Connection):
    """redis-py's TCP connection, connecting only to a checked address."""

    def _connect(self):
        sock = connect_tcp(self.host, self.port, self.socket_connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.socket_timeout)
        return sock


class GuardedRedisSSLConnection(redis.SSLConnection):
    """The same for rediss://; the certificate is still checked against the name."""

    def _connect(self):
        sock = GuardedRedisConnection._connect(self)
        return self._wrap_socket_with_ssl(sock)


def redis_client(url: str, **kwargs) -> redis.Redis:
    """A Redis client for a user-configured target: TCP only, every connection checked."""
    pool = redis.ConnectionPool.from_url(url, **kwargs)
    guarded = {redis.Connection: GuardedRedisConnection, redis.SSLConnection: GuardedRedisSSLConnection}
    if pool.connection_class not in guarded:
        raise OutboundRefused("Only redis:// and rediss:// targets are allowed.")
    pool.connection_class = guarded[pool.connection_class]
    client = redis.Redis(connection_pool=pool)
    client.auto_close_connection_pool = True  # as Redis.from_url does: close() closes the pool too
    return client


class GuardedNetworkBackend(httpcore.SyncBackend):
    """httpcore's backend, connecting only to checked addresses; TLS still verifies the name."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        error: Exception = httpcore.ConnectError(f"{host} resolved to no address")
        try:
            addresses = checked_addresses(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        raise error


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with the outbound policy applied to every connection, redirects included."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._pool._network_backend = GuardedNetworkBackend()


def http_client(**kwargs) -> httpx.Client:
    """An httpx client for user-configured destinations (monitors, webhooks). Redirects stay off; each
    connection is checked anyway. Proxies from the environment are not used: the check must see the
    real destination."""
    return httpx.Client(transport=GuardedTransport(), trust_env=False, follow_redirects=False, **kwargs)
