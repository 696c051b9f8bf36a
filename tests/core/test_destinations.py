"""Which addresses deliveries may reach."""

from __future__ import annotations

import pytest

from core.destinations import DestinationPolicy, DestinationRefusedError

PRODUCTION = DestinationPolicy.from_settings(allowlist=[], development=False, require_https=None)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://127.8.9.10/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://172.16.0.1/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/hook",
        "https://224.0.0.251/hook",
        "https://0.0.0.0/hook",
        "https://240.0.0.1/hook",
        "https://[::1]/hook",
        "https://[::]/hook",
        "https://[fe80::1]/hook",
        "https://[fc00::1]/hook",
        "https://[ff02::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:169.254.169.254]/hook",
        "https://[2002:a00:1::]/hook",
    ],
)
async def test_private_loopback_link_local_and_reserved_addresses_are_refused(url: str) -> None:
    with pytest.raises(DestinationRefusedError):
        await PRODUCTION.pin(url)


async def test_public_addresses_are_allowed_and_pinned() -> None:
    target = await PRODUCTION.pin("https://8.8.8.8:8443/hooks?x=1")

    assert (target.url, target.host_header) == ("https://8.8.8.8:8443/hooks?x=1", "8.8.8.8:8443")


async def test_a_resolved_name_is_pinned_to_its_checked_address_with_its_host_kept() -> None:
    loopback_allowed = DestinationPolicy.from_settings(
        allowlist=["127.0.0.0/8"], development=False, require_https=False
    )

    target = await loopback_allowed.pin("https://localhost:9443/hook")

    assert target.url == "https://127.0.0.1:9443/hook"
    assert (target.host_header, target.sni_hostname) == ("localhost:9443", "localhost")


def test_https_is_required_outside_development_unless_configured_otherwise() -> None:
    with pytest.raises(DestinationRefusedError, match="https"):
        PRODUCTION.check_url("http://8.8.8.8/hook")
    relaxed = DestinationPolicy.from_settings(allowlist=[], development=False, require_https=False)
    relaxed.check_url("http://8.8.8.8/hook")


async def test_development_allows_loopback_but_not_other_private_networks() -> None:
    development = DestinationPolicy.from_settings(
        allowlist=[], development=True, require_https=None
    )

    await development.pin("http://127.0.0.1:9000/hook")
    await development.pin("http://[::1]:9000/hook")
    with pytest.raises(DestinationRefusedError):
        await development.pin("http://10.0.0.1/hook")


async def test_allowlisted_networks_and_hosts_are_reachable() -> None:
    allowing = DestinationPolicy.from_settings(
        allowlist=["10.20.0.0/16", "hooks.internal"], development=False, require_https=None
    )

    await allowing.pin("https://10.20.3.4/hook")
    pinned = await allowing.pin("https://hooks.internal/hook")
    assert pinned.url == "https://hooks.internal/hook"
    with pytest.raises(DestinationRefusedError):
        await allowing.pin("https://10.21.0.1/hook")


async def test_a_host_that_does_not_resolve_passes_the_save_time_check() -> None:
    await PRODUCTION.check("https://no-such-host.invalid/hook")
    with pytest.raises(OSError):
        await PRODUCTION.pin("https://no-such-host.invalid/hook")


@pytest.mark.parametrize("url", ["ftp://8.8.8.8/x", "https:///nohost"])
def test_other_schemes_and_hostless_urls_are_refused(url: str) -> None:
    with pytest.raises(DestinationRefusedError):
        PRODUCTION.check_url(url)
