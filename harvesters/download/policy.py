"""Which addresses a download may reach: http(s) only, the profile's allow-list, no private nets.

By default a file may come from any host whose addresses are all public (globally routable).
``download.allow.hosts`` narrows that to the hosts listed (exact names or ``*.domain``; an IP
literal there also allows that address); ``download.allow.networks`` lists the non-public
networks (CIDR) that may be reached, e.g. ``127.0.0.1/32`` for a test server or a campus range.
Loopback, private, link-local, multicast, reserved and unspecified addresses are refused unless
a network allows them.

The address is checked where the connection is made (:class:`GuardedAdapter`): the host is
resolved once, every address it resolves to is checked, and the socket connects to a checked
address. So a redirect to another host, or a name that resolves differently the second time (DNS
rebinding), is checked too, and a refused address never sees a packet.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from harvesters.deadline import DeadlineAdapter, connection_classes
from harvesters.download.errors import AddressRefused, Refused
from mdstore.errors import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
ALLOWED_SCHEMES = ("http", "https")


def _address_kind(ip: IPAddress) -> str | None:
    """Why ``ip`` is not public, or None when it is."""
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(ip, f"is_{kind}", False):
            return kind.replace("_", "-")
    return None if ip.is_global else "non-global"


class AddressPolicy:
    """The profile's ``download.allow`` rules; see the module docstring."""

    def __init__(
        self,
        hosts: Iterable[str] = (),
        networks: Iterable[str] = (),
        *,
        networks_field: str = "download.allow.networks",
    ) -> None:
        """``networks_field`` names where the networks come from in messages (the datasource pages'
        probe uses this policy with a setting of its own)."""
        self.networks_field = networks_field
        self.hosts: set[str] = set()
        self.host_suffixes: list[str] = []
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for network in networks:
            try:
                self.networks.append(ipaddress.ip_network(network, strict=False))
            except ValueError as exc:
                raise ConfigError(
                    f"{network!r} is not a network (CIDR)", field=networks_field, rule="network"
                ) from exc
        for host in hosts:
            host = host.strip().lower().rstrip(".")
            if host.startswith("*."):
                self.host_suffixes.append(host[1:])
                continue
            self.hosts.add(host.strip("[]"))
            try:
                self.networks.append(ipaddress.ip_network(host.strip("[]")))
            except ValueError:
                pass

    # --- checks -------------------------------------------------------------------------------
    def check_url(self, url: str) -> None:
        """Scheme and host; raises :class:`Refused` before anything is resolved or sent."""
        try:
            parts = urlsplit(url)
            _ = parts.port  # a port that is not a number, or out of range
        except ValueError as exc:
            raise Refused(f"refused: not a valid URL ({exc})", url=url) from None
        if parts.scheme.lower() not in ALLOWED_SCHEMES:
            raise Refused(
                f"refused: only http and https URLs are downloaded, not {parts.scheme or 'none'!r}", url=url
            )
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            raise Refused("refused: the URL has no host", url=url)
        if (self.hosts or self.host_suffixes) and not self.host_allowed(host):
            raise Refused(f"refused: the host {host} is not in download.allow.hosts", url=url)

    def host_allowed(self, host: str) -> bool:
        return host in self.hosts or any(host.endswith(suffix) for suffix in self.host_suffixes)

    def check_address(self, host: str, address: str) -> None:
        """Raises :class:`AddressRefused` unless ``address`` is public or in an allowed network."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        mapped = getattr(ip, "ipv4_mapped", None)
        candidates = [ip] if mapped is None else [ip, mapped]
        if any(
            candidate in network
            for candidate in candidates
            for network in self.networks
            if candidate.version == network.version
        ):
            return
        kind = _address_kind(mapped or ip)
        if kind is not None:
            raise AddressRefused(
                f"refused: {host} resolves to {address}, a {kind} address not in {self.networks_field}"
            )

    def resolve(self, host: str, port: int) -> list[tuple[Any, ...]]:
        """``getaddrinfo`` results for ``host``, all checked: one refused address refuses the host."""
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        for info in infos:
            self.check_address(host, info[4][0])
        return infos

    def redirect_hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """A response hook: refuse a redirect to a URL the policy refuses before it is followed."""
        if response.is_redirect:
            target = urljoin(response.url, response.headers.get("Location", ""))
            try:
                self.check_url(target)
            except Refused as exc:
                response.close()
                raise Refused(f"{exc.message} (redirected from {response.url})", url=target) from None


# --- connections --------------------------------------------------------------------------------


class _GuardedConnectionMixin:
    """Resolve, check every address, connect to a checked one (urllib3's ``_new_conn`` otherwise)."""

    policy: AddressPolicy

    def _new_conn(self) -> socket.socket:
        host, port = self._dns_host, self.port  # type: ignore[attr-defined]
        try:
            infos = self.policy.resolve(host, port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[attr-defined,arg-type]
        last: OSError | None = None
        for info in infos:
            try:
                return urllib3_connection.create_connection(
                    (info[4][0], port),
                    self.timeout,  # type: ignore[attr-defined]
                    source_address=self.source_address,  # type: ignore[attr-defined]
                    socket_options=self.socket_options,  # type: ignore[attr-defined]
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(
                    self,
                    f"Connection to {host} timed out. "  # type: ignore[arg-type]
                    f"(connect timeout={self.timeout})",
                ) from exc  # type: ignore[attr-defined]
            except OSError as exc:
                last = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {last}")  # type: ignore[arg-type]


class GuardedAdapter(DeadlineAdapter):
    """A requests adapter whose connections obey an :class:`AddressPolicy` (no proxies) and the
    transfer deadline (:mod:`harvesters.deadline`)."""

    def __init__(self, policy: AddressPolicy, **kwargs: Any) -> None:
        self.policy = policy
        guarded = type("GuardedConnection", (_GuardedConnectionMixin,), {"policy": policy})
        self.pool_classes = connection_classes(guarded)
        super().__init__(**kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise Refused(
            "refused: downloads do not go through proxies (the address could not be checked)", url=proxy
        )

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.policy.check_url(request.url or "")
        return super().send(request, *args, **kwargs)


def guard_session(session: requests.Session, policy: AddressPolicy, *, max_redirects: int = 10) -> None:
    """Make ``session`` obey ``policy``: guarded adapters, no environment proxies or .netrc."""
    session.trust_env = False
    session.max_redirects = max_redirects
    adapter = GuardedAdapter(policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.hooks["response"].append(policy.redirect_hook)
