"""docker-compose.yml, the Dockerfile and deploy/, checked by reading them.

Docker cannot run where this is developed, so the stack is checked by parsing: its
services and their start order, healthchecks, ports, environment, mounted files, and that
every command it runs from the app image exists in the project and is the one ``make run``
runs.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import tomllib
from collections.abc import Callable, Iterator
from fnmatch import fnmatch
from functools import cache
from graphlib import TopologicalSorter
from itertools import pairwise
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import typer
import yaml
from fastapi import FastAPI
from sqlalchemy.engine import make_url

import devstack
from core.config import Settings

PROJECT = Path(__file__).resolve().parents[2]

APP_SERVICES = ("temporal-setup", "migrate", "api", "worker")
ONE_SHOTS = {"temporal-schema", "temporal-namespace", "temporal-setup", "migrate"}
LONG_RUNNING = {"postgres", "temporal", "temporal-ui", "api", "worker", "prometheus", "grafana"}
# Each waits for the one before it; the API and the workers wait for the last.
STARTUP_ORDER = (
    "postgres",
    "temporal-schema",
    "temporal",
    "temporal-namespace",
    "temporal-setup",
    "migrate",
)
DOCUMENTED_HOST_PORTS = {
    8000: "api",
    8233: "temporal-ui",
    7233: "temporal",
    9090: "prometheus",
    3000: "grafana",
}
WORKER_METRICS_PORT = 9464
TEMPORAL_SDK_METRICS_PORT = 9465
SAMPLE_SECRETS = {
    "WEBHOOKS_ADMIN_TOKEN": "a-long-random-admin-token",
    "POSTGRES_PASSWORD": "a-long-random-password",
    "GRAFANA_ADMIN_PASSWORD": "another-long-random-password",
}


@cache
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((PROJECT / "docker-compose.yml").read_text())
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def service(name: str) -> dict[str, Any]:
    return services()[name]


def environment(name: str) -> dict[str, str]:
    raw = service(name).get("environment", {})
    assert isinstance(raw, dict), f"{name}: write environment as a mapping"
    return {key: str(value) for key, value in raw.items()}


VARIABLE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:\?|:-)(?P<arg>[^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's variable substitution, for the forms this file uses."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"]
        if name in env:
            return env[name]
        if op == ":-":
            return str(arg)
        raise AssertionError(f"${{{name}}} is unset and has no default")

    return VARIABLE.sub(substitute, value)


def depends_on(name: str) -> dict[str, str]:
    """The services ``name`` waits for, each with its condition."""
    raw = service(name).get("depends_on", {})
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {
        dependency: spec.get("condition", "service_started") for dependency, spec in raw.items()
    }


def waits_for(name: str) -> set[str]:
    """Everything ``name`` waits for, directly or through what it waits for."""
    found: set[str] = set()
    pending = list(depends_on(name))
    while pending:
        dependency = pending.pop()
        if dependency not in found:
            found.add(dependency)
            pending.extend(depends_on(dependency))
    return found


def command(name: str) -> list[str]:
    raw = service(name)["command"]
    assert isinstance(raw, list), f"{name}: write the command as a list, as the image runs it"
    return [str(part) for part in raw]


def healthcheck(name: str) -> list[str]:
    test = service(name).get("healthcheck", {}).get("test")
    assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL"), f"{name}: no healthcheck"
    return [str(part) for part in test]


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((PROJECT / "pyproject.toml").read_text())


# ---------------------------------------------------------------- services and images


def test_the_stack_has_every_service() -> None:
    assert set(services()) == ONE_SHOTS | LONG_RUNNING


def test_no_service_uses_the_deprecated_auto_setup_image() -> None:
    images = {name: spec.get("image", "") for name, spec in services().items()}
    assert not {name for name, image in images.items() if "auto-setup" in image}
    assert images["temporal"].startswith("temporalio/server:")


def image_tag(image: str) -> str:
    name, _, tag = image.rpartition(":")
    return tag if name and "/" not in tag else ""


def test_every_image_is_pinned_to_a_version() -> None:
    for name, spec in services().items():
        if "build" in spec:
            continue  # built from this repository
        tag = image_tag(spec["image"])
        assert re.fullmatch(r"v?\d+\.\d+(\.\d+)?([.-][\w.-]+)?", tag), (
            f"{name}: {spec['image']} is not pinned to a version"
        )


def test_temporal_tools_are_the_servers_version() -> None:
    version = image_tag(service("temporal")["image"])
    for name in ("temporal-schema", "temporal-namespace"):
        assert service(name)["image"] == f"temporalio/admin-tools:{version}"


def test_every_app_service_runs_the_image_built_here() -> None:
    built = {(service(name).get("build"), service(name).get("image")) for name in APP_SERVICES}
    assert len(built) == 1
    ((context, _image),) = built
    assert (PROJECT / str(context) / "Dockerfile").is_file()


# ---------------------------------------------------------------- start order and health


def test_dependencies_exist_and_have_no_cycle() -> None:
    graph = {name: set(depends_on(name)) for name in services()}
    for name, dependencies in graph.items():
        assert dependencies <= set(services()), f"{name} waits for a service that is not there"
    tuple(TopologicalSorter(graph).static_order())  # raises CycleError on a cycle


def test_each_dependency_waits_for_health_or_completion() -> None:
    for name in services():
        for dependency, condition in depends_on(name).items():
            if dependency in ONE_SHOTS:
                assert condition == "service_completed_successfully", (name, dependency)
            else:
                assert condition == "service_healthy", (name, dependency)
                healthcheck(dependency)


def test_the_stack_starts_in_order() -> None:
    for before, after in pairwise(STARTUP_ORDER):
        assert before in depends_on(after), f"{after} must wait for {before}"
    for name in ("api", "worker"):
        assert set(STARTUP_ORDER) <= waits_for(name)
        assert "migrate" in depends_on(name)
    assert depends_on("temporal")["temporal-schema"] == "service_completed_successfully"


def test_long_running_services_have_healthchecks_and_restart() -> None:
    for name in LONG_RUNNING:
        assert len(healthcheck(name)) > 1
        assert service(name).get("restart") == "unless-stopped", name
    for name in ONE_SHOTS:
        assert service(name).get("restart", "no") == "no", f"{name} runs once"
        assert "healthcheck" not in service(name)


# ---------------------------------------------------------------- ports


def published_ports(name: str) -> Iterator[tuple[str, int, int]]:
    for entry in service(name).get("ports", []):
        parts = str(entry).split(":")
        assert len(parts) == 3, f"{name}: {entry} must name the host address"
        yield parts[0], int(parts[1]), int(parts[2])


def test_host_ports_are_on_loopback_and_documented() -> None:
    published: dict[int, str] = {}
    for name in services():
        for address, host_port, _ in published_ports(name):
            assert address == "127.0.0.1", f"{name} publishes {host_port} beyond this host"
            published[host_port] = name
    assert published == DOCUMENTED_HOST_PORTS


def test_api_publishes_the_port_it_listens_on() -> None:
    argv = command("api")
    port = int(argv[argv.index("--port") + 1])
    assert [(host, container) for _, host, container in published_ports("api")] == [(port, port)]


# ---------------------------------------------------------------- environment


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_run_in_production_against_the_stack(name: str) -> None:
    env = environment(name)
    assert env["WEBHOOKS_ENVIRONMENT"] == "production"
    assert re.fullmatch(r"\$\{WEBHOOKS_ADMIN_TOKEN:\?[^}]+\}", env["WEBHOOKS_ADMIN_TOKEN"])

    database = make_url(interpolate(env["DATABASE_URL"], SAMPLE_SECRETS))
    postgres = environment("postgres")
    assert database.get_backend_name() == "postgresql"
    assert (database.host, database.port) == ("postgres", 5432)
    assert database.username == postgres["POSTGRES_USER"]
    assert database.database == postgres["POSTGRES_DB"]
    assert database.password == SAMPLE_SECRETS["POSTGRES_PASSWORD"]

    host, _, port = env["TEMPORAL_ADDRESS"].partition(":")
    assert (host, port) == ("temporal", "7233")
    assert ("127.0.0.1", 7233, int(port)) in set(published_ports("temporal"))


def test_secrets_come_from_the_environment() -> None:
    for name in services():
        for key, value in environment(name).items():
            if re.search(r"PASSWORD|PWD|TOKEN|SECRET", key):
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", value), f"{name}: {key} is written out"
            assert "@" not in value or re.search(r":\$\{\w+:\?[^}]+\}@", value), (
                f"{name}: {key} has a password written out"
            )


@pytest.mark.parametrize("name", ["api", "worker"])
def test_app_environment_makes_valid_production_settings(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    for key in [key for key in os.environ if key.startswith("WEBHOOKS_")]:
        monkeypatch.delenv(key)
    for key, value in environment(name).items():
        monkeypatch.setenv(key, interpolate(value, SAMPLE_SECRETS))

    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    assert settings.environment == "production"
    assert settings.admin_token == SAMPLE_SECRETS["WEBHOOKS_ADMIN_TOKEN"]
    connect = settings.temporal_connect_config()
    assert connect["target_host"] == "temporal:7233"
    assert connect["namespace"] == "default"


def webhooks_variables() -> list[str]:
    return sorted(
        {key for name in APP_SERVICES for key in environment(name) if key.startswith("WEBHOOKS_")}
    )


@pytest.mark.parametrize("variable", webhooks_variables())
def test_every_webhooks_variable_is_a_setting(variable: str) -> None:
    # Settings ignores unknown variables, so a misspelt one would silently do nothing.
    field = variable.removeprefix("WEBHOOKS_").lower()
    assert field in Settings.model_fields, f"{variable} sets no field of Settings"


def test_workers_scale_out() -> None:
    worker = service("worker")
    assert "container_name" not in worker
    assert "ports" not in worker
    assert worker["stop_grace_period"] == "60s"
    grace = float(environment("worker")["WEBHOOKS_WORKER_SHUTDOWN_GRACE_SECONDS"])
    assert grace < 60, "Docker would kill the worker before its attempts in flight finish"


def test_worker_serves_metrics_to_the_network_on_the_contract_ports() -> None:
    env = environment("worker")
    assert env["WEBHOOKS_METRICS_HOST"] == "0.0.0.0"
    assert int(env["WEBHOOKS_WORKER_METRICS_PORT"]) == WORKER_METRICS_PORT
    assert int(env["WEBHOOKS_TEMPORAL_METRICS_PORT"]) == TEMPORAL_SDK_METRICS_PORT


def probe_code(name: str) -> str:
    """The Python a healthcheck of the app image runs: the image has no curl or wget."""
    test = healthcheck(name)
    assert test[:3] == ["CMD", "python", "-c"], f"{name}: probe with the image's own Python"
    compile(test[3], f"<{name} healthcheck>", "exec")
    return test[3]


def test_api_healthcheck_asks_whether_it_is_ready() -> None:
    assert "http://127.0.0.1:8000/readyz" in probe_code("api")


def test_worker_healthcheck_reads_its_metrics() -> None:
    assert f"http://127.0.0.1:{WORKER_METRICS_PORT}/metrics" in probe_code("worker")


# ---------------------------------------------------------------- commands


def test_worker_command_runs_the_projects_worker() -> None:
    assert command("worker") == ["python", "worker.py"]
    worker = importlib.import_module("worker")
    assert Path(str(worker.__file__)).resolve() == PROJECT / "worker.py"
    assert callable(worker.main)


def test_api_command_serves_the_projects_app() -> None:
    program, target, *options = command("api")
    assert program == "uvicorn"
    module, _, attribute = target.partition(":")
    assert isinstance(getattr(importlib.import_module(module), attribute), FastAPI)
    assert options == ["--host", "0.0.0.0", "--port", "8000"]


def cli_command(argv: list[str]) -> Any:
    """The command ``webhooks ...`` runs, found through the project's console script."""
    program, *path = argv
    module, _, attribute = pyproject()["project"]["scripts"][program].partition(":")
    app = getattr(importlib.import_module(module), attribute)
    assert isinstance(app, typer.Typer)
    found: Any = typer.main.get_command(app)
    for name in path:
        children = getattr(found, "commands", None)
        assert children is not None, f"`{' '.join(argv)}`: {found.name} has no sub-commands"
        assert name in children, f"`{' '.join(argv)}`: no command {name!r} under {found.name}"
        found = children[name]
    assert not getattr(found, "commands", None), f"`{' '.join(argv)}` is a group, not a command"
    return found


@pytest.mark.parametrize("name", ["temporal-setup", "migrate"])
def test_cli_commands_exist_in_the_project(name: str) -> None:
    argv = command(name)
    assert argv[0] == "webhooks"
    assert callable(cli_command(argv).callback)


def normalised(argv: list[str]) -> list[str]:
    """A command without what differs between a laptop and a container: the interpreter's
    or script's folder, and the address the API listens on."""
    program = PurePosixPath(argv[0]).name
    parts = ["python" if re.fullmatch(r"python[\d.]*", program) else program, *argv[1:]]
    if "--host" in parts:
        parts[parts.index("--host") + 1] = "<host>"
    return parts


DEVSTACK_COMMANDS: dict[str, str] = {
    "api": "api_command",
    "worker": "worker_command",
    "migrate": "migrate_command",
}


@pytest.mark.parametrize("name", DEVSTACK_COMMANDS)
def test_commands_are_the_ones_make_run_runs(name: str) -> None:
    make_run: Callable[[], list[str]] = getattr(devstack, DEVSTACK_COMMANDS[name])
    assert normalised(make_run()) == normalised(command(name))


# ---------------------------------------------------------------- Temporal


def script(name: str) -> str:
    assert service(name)["entrypoint"] == ["/bin/sh", "-euc"], f"{name} stops at a failure"
    (text,) = command(name)
    return text.replace("$$", "$")


def test_temporal_schema_is_set_up_with_temporals_tool() -> None:
    schema_env = environment("temporal-schema")
    server_env = environment("temporal")
    assert schema_env["SQL_PLUGIN"] == server_env["DB"] == "postgres12"
    assert schema_env["SQL_HOST"] == server_env["POSTGRES_SEEDS"] == "postgres"
    assert schema_env["SQL_USER"] == server_env["POSTGRES_USER"]
    assert schema_env["SQL_USER"] == environment("postgres")["POSTGRES_USER"]
    assert schema_env["SQL_PASSWORD"] == server_env["POSTGRES_PWD"]

    lines = [shlex.split(line) for line in script("temporal-schema").splitlines() if line]
    steps = [line for line in lines if line[0] == "temporal-sql-tool"]
    variables = dict(line[0].split("=", 1) for line in lines if line[0] != "temporal-sql-tool")
    schemas = variables["schemas"]
    assert schemas == "/etc/temporal/schema/postgresql/v12"
    expected: list[list[str]] = []
    for database, folder in (
        (server_env["DBNAME"], "temporal"),
        (server_env["VISIBILITY_DBNAME"], "visibility"),
    ):
        expected += [
            ["temporal-sql-tool", "--db", database, "create-database"],
            ["temporal-sql-tool", "--db", database, "setup-schema", "-v", "0.0"],
            [
                "temporal-sql-tool",
                "--db",
                database,
                "update-schema",
                "-d",
                f"$schemas/{folder}/versioned",
            ],
        ]
    assert steps == expected
    assert (server_env["DBNAME"], server_env["VISIBILITY_DBNAME"]) == (
        "temporal",
        "temporal_visibility",
    )


def test_temporal_server_listens_to_the_stack_and_reads_the_mounted_config() -> None:
    env = environment("temporal")
    assert env["BIND_ON_IP"] == "0.0.0.0"
    (config,) = [
        source
        for source, target in bind_mounts("temporal")
        if target == env["DYNAMIC_CONFIG_FILE_PATH"]
    ]
    assert isinstance(yaml.safe_load((PROJECT / config).read_text()), dict)


def test_namespace_created_is_the_one_the_service_uses() -> None:
    text = script("temporal-namespace")
    assert "temporal operator namespace create" in text
    assert (
        environment("temporal-namespace")["NAMESPACE"] == environment("api")["TEMPORAL_NAMESPACE"]
    )
    assert (
        environment("temporal-namespace")["TEMPORAL_ADDRESS"]
        == environment("api")["TEMPORAL_ADDRESS"]
    )


# ---------------------------------------------------------------- Prometheus and mounts


def bind_mounts(name: str) -> Iterator[tuple[str, str]]:
    for volume in service(name).get("volumes", []):
        source, target, *_ = str(volume).split(":")
        if source.startswith("."):
            yield source, target


def all_bind_mounts() -> list[tuple[str, str]]:
    return [(name, source) for name in services() for source, _ in bind_mounts(name)]


@pytest.mark.parametrize(
    ("name", "source"), all_bind_mounts(), ids=[f"{n}:{s}" for n, s in all_bind_mounts()]
)
def test_every_mounted_file_is_in_the_repository(name: str, source: str) -> None:
    assert (PROJECT / source).exists(), f"{name} mounts {source}, which is not in the repository"


@cache
def prometheus_config() -> dict[str, Any]:
    mounts = dict(bind_mounts("prometheus"))
    (source,) = [path for path, target in mounts.items() if target.endswith("prometheus.yml")]
    assert mounts[source] == "/etc/prometheus/prometheus.yml"
    loaded: dict[str, Any] = yaml.safe_load((PROJECT / source).read_text())
    return loaded


def scraped_targets() -> set[str]:
    targets: set[str] = set()
    for job in prometheus_config()["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics", job["job_name"]
        for static in job.get("static_configs", []):
            targets |= set(static["targets"])
        for discovered in job.get("dns_sd_configs", []):
            assert discovered.get("type", "SRV") == "A", "compose's DNS answers A records"
            targets |= {f"{host}:{discovered['port']}" for host in discovered["names"]}
    return targets


def test_prometheus_scrapes_the_api_every_worker_and_temporal() -> None:
    worker = environment("worker")
    _, _, temporal_port = environment("temporal")["PROMETHEUS_ENDPOINT"].rpartition(":")
    api_port = command("api")[command("api").index("--port") + 1]
    assert scraped_targets() == {
        f"api:{api_port}",
        f"worker:{worker['WEBHOOKS_WORKER_METRICS_PORT']}",
        f"worker:{worker['WEBHOOKS_TEMPORAL_METRICS_PORT']}",
        f"temporal:{temporal_port}",
    }
    assert {f"worker:{WORKER_METRICS_PORT}", f"worker:{TEMPORAL_SDK_METRICS_PORT}"} <= (
        scraped_targets()
    )


def test_every_worker_replica_is_found_by_dns() -> None:
    jobs = prometheus_config()["scrape_configs"]
    for job in jobs:
        for static in job.get("static_configs", []):
            assert not any(target.startswith("worker") for target in static["targets"]), (
                "a fixed worker target misses the replicas added by --scale"
            )


def test_grafana_provisioning_reads_the_mounted_dashboards_and_prometheus() -> None:
    mounts = dict(bind_mounts("grafana"))
    provisioning = PROJECT / next(s for s, t in mounts.items() if t == "/etc/grafana/provisioning")
    dashboards_target = next(t for s, t in mounts.items() if s.endswith("grafana/dashboards"))
    assert (PROJECT / "deploy/grafana/dashboards/webhooks.json").is_file()

    sources = [
        entry
        for path in sorted((provisioning / "datasources").glob("*.y*ml"))
        for entry in yaml.safe_load(path.read_text()).get("datasources", [])
    ]
    assert any(entry.get("url") == "http://prometheus:9090" for entry in sources), sources
    providers = [
        entry
        for path in sorted((provisioning / "dashboards").glob("*.y*ml"))
        for entry in yaml.safe_load(path.read_text()).get("providers", [])
    ]
    assert [entry["options"]["path"] for entry in providers] == [dashboards_target]


# ---------------------------------------------------------------- the Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (PROJECT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [
        (keyword.upper(), rest.strip())
        for keyword, _, rest in (line.strip().partition(" ") for line in joined.splitlines())
        if keyword
    ]


def dockerignore_patterns() -> list[str]:
    lines = (PROJECT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build; the last matching line wins."""
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: end + 1]) for end in range(len(parts))]
    excluded = False
    for line in dockerignore_patterns():
        pattern = line.removeprefix("!").strip("/")
        if any(fnmatch(prefix, pattern) for prefix in prefixes):
            excluded = not line.startswith("!")
    return excluded


def copied(path: str) -> bool:
    for keyword, arguments in dockerfile_instructions():
        if keyword != "COPY":
            continue
        sources = [part for part in shlex.split(arguments) if not part.startswith("--")][:-1]
        for source in sources:
            source = source.removeprefix("./").rstrip("/") or "."
            if source == "." or path == source or path.startswith(f"{source}/"):
                return True
    return False


def what_the_service_runs() -> list[str]:
    setuptools = pyproject()["tool"]["setuptools"]
    package_data = setuptools.get("package-data", {})
    paths = {package.replace(".", "/") for package in setuptools["packages"]}
    paths |= {
        str(PurePosixPath(package.replace(".", "/")) / PurePosixPath(pattern).parent)
        for package, patterns in package_data.items()
        if package in setuptools["packages"]
        for pattern in patterns
    }
    defaults = Settings.model_fields
    for setting in ("retry_policies_file", "automations_file"):
        default = defaults[setting].default
        paths.add(str(Path(default).relative_to(PROJECT)))
    return sorted(paths | {"worker.py", "pyproject.toml", str(pyproject()["project"]["readme"])})


@pytest.mark.parametrize("path", what_the_service_runs())
def test_image_holds_what_the_service_runs(path: str) -> None:
    assert (PROJECT / path).exists()
    assert copied(path), f"the Dockerfile copies no {path}"
    assert not ignored(path), f".dockerignore keeps {path} out of the image"


@pytest.mark.parametrize("path", [".env", ".git", ".venv", ".data", "tests"])
def test_image_leaves_out_secrets_and_development_files(path: str) -> None:
    assert ignored(path)


def test_image_installs_the_project_and_runs_as_a_user() -> None:
    instructions = dockerfile_instructions()
    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]
    assert any(re.search(r"\bpip install \.(\s|$)", run) for run in runs)
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the service must not run as root"


def test_image_base_is_pinned_and_fits_the_project() -> None:
    (base,) = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "FROM"]
    match = re.fullmatch(r"python:(\d+)\.(\d+)\.\d+-slim(-\w+)?", base)
    assert match, f"{base} is not pinned to a Python release"
    minimum = re.fullmatch(r">=(\d+)\.(\d+)", pyproject()["project"]["requires-python"])
    assert minimum
    assert (int(match[1]), int(match[2])) >= (int(minimum[1]), int(minimum[2]))


def test_the_image_limits_malloc_arenas_as_make_run_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    settings = " ".join(rest for keyword, rest in dockerfile_instructions() if keyword == "ENV")

    assert devstack.child_environment()["MALLOC_ARENA_MAX"] == devstack.MALLOC_ARENA_MAX
    assert f"MALLOC_ARENA_MAX={devstack.MALLOC_ARENA_MAX}" in settings.split()


def test_a_malloc_arena_limit_of_ones_own_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")

    assert devstack.child_environment()["MALLOC_ARENA_MAX"] == "4"
