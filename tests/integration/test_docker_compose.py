"""The production-like stack as shipped: ``docker compose config`` accepts it (no Docker engine is
needed for that), and what its services name resolves: images are pinned and the local build's
context and Dockerfile exist, every ``contentcloud …`` and ``airflow …`` command (and health probe)
parses against the real CLI with the options it passes, mounted host paths and the image paths the
commands read exist, and every variable the file and the services read is defined.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.servers import in_ci

PROJECT = Path(__file__).resolve().parents[2]
COMPOSE = PROJECT / "docker" / "compose.yaml"
DOCKERFILE = PROJECT / "docker" / "Dockerfile"
ENV_EXAMPLE = PROJECT / "docker" / ".env.example"
#: where the Dockerfile installs the project (``WORKDIR /app``, ``COPY`` of the project's folders)
APP = "/app"
pytestmark = pytest.mark.integration


def compose(*args: str) -> subprocess.CompletedProcess:
    if (
        shutil.which("docker") is None
        or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0
    ):
        message = "docker compose is not installed (scripts/install-test-deps builds the CLI plugin)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return subprocess.run(
        ["docker", "compose", *args], capture_output=True, text=True, timeout=120, cwd=PROJECT
    )


@pytest.fixture(scope="module")
def resolved() -> tuple[dict[str, Any], str]:
    """The stack as ``docker compose config`` resolves it with the example environment; its stderr."""
    result = compose("--env-file", "docker/.env.example", "-f", str(COMPOSE), "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def test_compose_file_is_valid_with_the_example_environment(resolved):
    config, _ = resolved
    assert set(config["services"]) == {
        "mongodb",
        "solr",
        "solr-init",
        "postgres",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "demo-source",
        "publisher",
    }
    publisher = config["services"]["publisher"]["environment"]
    assert publisher["CONTENTCLOUD_MDSTORE"].startswith(
        "mongodb://contentcloud:change-me-mongo@mongodb:27017/"
    )
    assert publisher["CONTENTCLOUD_INDEX"] == "http://solr:8983/solr/contentcloud"
    assert config["services"]["solr"]["command"] == ["solr-foreground", "-c"]
    assert publisher["CONTENTCLOUD_CURATOR_USERS"].startswith("curator:scrypt:32768:8:1:")
    # every published port listens on the host's loopback only (a TLS proxy goes in front)
    published = {
        name: [(port["host_ip"], port["published"], port["target"]) for port in service.get("ports", [])]
        for name, service in config["services"].items()
        if service.get("ports")
    }
    assert published == {
        "solr": [("127.0.0.1", "8983", 8983)],
        "airflow-apiserver": [("127.0.0.1", "8080", 8080)],
        "publisher": [("127.0.0.1", "8000", 8000)],
    }
    scheduler = config["services"]["airflow-scheduler"]["environment"]
    assert scheduler["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")


def test_secrets_must_come_from_the_environment():
    result = compose("-f", str(COMPOSE), "config")
    assert result.returncode != 0
    assert "required variable" in result.stderr and "is missing a value" in result.stderr


#: the services built from this checkout (docker/Dockerfile), the others are pulled
BUILT = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "demo-source",
    "publisher",
}
AIRFLOW_COMPONENTS = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}


def test_the_start_order_is_gated_on_health(resolved):
    config, _ = resolved
    services = config["services"]
    depends = {
        name: {d: c["condition"] for d, c in s.get("depends_on", {}).items()} for name, s in services.items()
    }
    backends = {
        "mongodb": "service_healthy",
        "solr-init": "service_completed_successfully",
        "demo-source": "service_healthy",
    }
    airflow = {**backends, "postgres": "service_healthy", "airflow-init": "service_completed_successfully"}
    assert depends["solr-init"] == {"solr": "service_healthy"}
    assert depends["airflow-init"] == {"postgres": "service_healthy"}
    assert depends["airflow-apiserver"] == airflow
    for name in AIRFLOW_COMPONENTS - {"airflow-apiserver"}:  # their execution API is the API server's
        assert depends[name] == {**airflow, "airflow-apiserver": "service_healthy"}, name
    assert depends["publisher"] == backends
    # every service waited for as healthy has a health check
    awaited = {d for conditions in depends.values() for d, c in conditions.items() if c == "service_healthy"}
    assert {name for name in awaited if "healthcheck" not in services[name]} == set()


def test_the_demo_profile_reaches_the_stacks_demo_source(resolved):
    import yaml

    config, _ = resolved
    mounts = {v["target"]: v for v in config["services"]["airflow-scheduler"]["volumes"]}
    registry = Path(mounts[f"{APP}/registry"]["source"])
    assert mounts[f"{APP}/registry"]["read_only"] is True
    profiles = {p.name: yaml.safe_load(p.read_text()) for p in registry.glob("*.yaml")}
    assert profiles["demo.yaml"]["api"]["baseurl"] == "http://demo-source:8090/oai"
    validated = subprocess.run(
        [
            str(Path(sys.executable).with_name("contentcloud")),
            "datasource",
            "validate",
            *sorted(map(str, registry.glob("*.yaml"))),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
    command = config["services"]["demo-source"]["command"]
    assert command[-2:] == ["--port", "8090"] and "--source-only" in command
    assert "ports" not in config["services"]["demo-source"]  # reached inside the stack only
    assert {"contentcloud-var", "mongodb-data", "solr-data", "postgres-data"} <= set(config["volumes"])
    assert mounts["/var/lib/contentcloud"]["source"] == "contentcloud-var"


def test_images_are_pinned_and_the_local_build_exists(resolved):
    config, _ = resolved
    version = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["version"]
    for name, service in config["services"].items():
        image = service["image"]
        _, colon, tag = image.rpartition("/")[2].rpartition(":")
        assert colon and tag and tag != "latest", f"{name}: image {image} is not pinned to a tag"
        if name in BUILT:
            assert image == f"contentcloud:{version}", name
            context = Path(service["build"]["context"])
            assert context == PROJECT, name
            assert (context / service["build"]["dockerfile"]).resolve() == DOCKERFILE, name
        else:
            assert "build" not in service, name
    assert {name for name, s in config["services"].items() if "build" in s} == BUILT
    # what the Dockerfile copies exists in the build context
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY "):
            for source in shlex.split(line)[1:-1]:
                assert (PROJECT / source).exists(), f"Dockerfile: {line}"


def test_mounted_host_paths_exist_in_the_checkout(resolved):
    config, _ = resolved
    binds = []
    for name, service in config["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                source = Path(volume["source"])
                assert source.exists(), f"{name}: {source} (mounted at {volume['target']}) does not exist"
                assert source.is_relative_to(PROJECT), f"{name}: {source} is outside the checkout"
                binds.append((name, volume["target"]))
            else:
                assert volume["type"] == "volume" and volume["source"] in config["volumes"], (name, volume)
    assert ("publisher", f"{APP}/mappings") in binds and ("airflow-scheduler", f"{APP}/registry") in binds


def _commands(service: dict[str, Any]) -> list[list[str]]:
    """The command lines a service runs: its command (``bash -c`` scripts split at ``&&``) and its
    health probe."""
    lines = []
    for words in (service.get("entrypoint") or [], service.get("command") or []):
        if len(words) >= 3 and words[:2] == ["bash", "-c"]:
            lines += [shlex.split(part) for part in words[2].split("&&")]
        elif words and words[0] != "bash":
            lines.append(list(words))
    test = (service.get("healthcheck") or {}).get("test") or []
    if test[:1] == ["CMD"]:
        lines.append(test[1:])
    return lines


def _subcommand(words: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(subcommand path, options, other arguments) of a command line without its program."""
    path: list[str] = []
    for word in words:
        if word.startswith("-") or "/" in word or not re.fullmatch(r"[a-z][a-z0-9-]*", word):
            break
        path.append(word)
    rest = words[len(path) :]
    options = [w.split("=")[0] for w in rest if w.startswith("--")]
    return path, options, [w for w in rest if not w.startswith("-")]


def _run_help(program: str, path: list[str], env: dict[str, str]) -> subprocess.Popen:
    executable = str(Path(sys.executable).with_name(program))
    return subprocess.Popen(
        [executable, *path, "--help"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_every_command_parses_against_the_real_cli(resolved, tmp_path):
    """``contentcloud <path> --help`` and ``airflow <path> --help`` exit 0 for the subcommand path
    a service runs, and list every option it passes; the /app paths it reads exist in the image."""
    if shutil.which("airflow", path=str(Path(sys.executable).parent)) is None:
        message = "apache-airflow is not installed (pip install -e '.[airflow]')"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    config, _ = resolved
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT),
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    checks: dict[tuple[str, ...], tuple[subprocess.Popen, set[str], set[str]]] = {}
    seen: set[str] = set()
    for name, service in config["services"].items():
        if name not in BUILT:
            continue
        mounted = [v["target"] for v in service.get("volumes", []) if v["type"] == "bind"]
        for line in _commands(service):
            program = line[0]
            if program == "python":  # a probe: python -c '<standard library only>'
                assert line[1] == "-c" and "urllib.request" in line[2], (name, line)
                compile(line[2], f"{name} healthcheck", "exec")
                continue
            assert program in {"contentcloud", "airflow"}, f"{name}: unknown program {line}"
            seen.add(program)
            path, options, arguments = _subcommand(line[1:])
            for argument in arguments:
                if argument.startswith(f"{APP}/") and not any(argument.startswith(m + "/") for m in mounted):
                    assert (PROJECT / argument[len(APP) + 1 :]).exists(), f"{name}: {argument} ({line})"
            key = (program, *path)
            if key not in checks:
                checks[key] = (_run_help(program, path, env), set(), set())
            checks[key][1].update(options)
            checks[key][2].add(name)
    assert seen == {"contentcloud", "airflow"}
    assert {key[:2] for key in checks} >= {("airflow", "scheduler"), ("contentcloud", "serve")}
    for key, (process, options, services) in checks.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, f"{' '.join(key)} --help ({sorted(services)}): {err[-1500:]}"
        usage = " ".join(key)
        assert re.search(rf"usage: {re.escape(usage)}\b", out, re.IGNORECASE), (key, out[:500])
        missing = {
            option for option in options if not re.search(rf"(^|[\s,]){re.escape(option)}\b", out, re.M)
        }
        assert missing == set(), f"{usage}: options {sorted(missing)} not in its --help"


def test_every_variable_is_defined(resolved, tmp_path):
    """Every ``${VAR}`` of the file has a default or is in .env.example (so the example stack starts
    without a blank value), every CONTENTCLOUD_* a service sets is a setting contentcloud reads,
    every AIRFLOW__SECTION__KEY is an option Airflow knows, and the services that run the pipeline
    get the MDStore and index of the stack (not the image's SQLite defaults)."""
    from contentcloud.settings import setting_fields

    config, stderr = resolved
    assert "variable is not set" not in stderr, stderr
    example = {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    text = "\n".join(line for line in COMPOSE.read_text().splitlines() if not line.lstrip().startswith("#"))
    for variable, operator in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?", text):
        if operator not in (":-", "-"):
            assert variable in example, f"compose.yaml reads {variable}: not in docker/.env.example"

    known = {field.env for field in setting_fields()}
    image_env = dict(
        re.findall(r"\b(CONTENTCLOUD_[A-Z_]+)=(\S+)", DOCKERFILE.read_text())
    )  # the Dockerfile's ENV lines
    assert set(image_env) <= known, set(image_env) - known
    airflow_options: set[tuple[str, str]] = set()
    for name, service in config["services"].items():
        environment = service.get("environment") or {}
        if name in BUILT:
            assert {n for n in environment if n.startswith("CONTENTCLOUD_")} <= known, name
            for variable in environment:
                if variable.startswith("AIRFLOW__"):
                    section, key = variable[len("AIRFLOW__") :].lower().split("__", 1)
                    airflow_options.add((section, key))
            if name != "demo-source":  # it serves its own store of sample records
                assert environment["CONTENTCLOUD_MDSTORE"].startswith("mongodb://"), name
                assert environment["CONTENTCLOUD_INDEX"] == "http://solr:8983/solr/contentcloud", name
        assert all(
            value not in (None, "") for n, value in environment.items() if n != "CONTENTCLOUD_CURATOR_TOKENS"
        ), (
            name,
            environment,
        )
    airflow_options |= {
        tuple(n[len("AIRFLOW__") :].lower().split("__", 1))
        for n in re.findall(r"\b(AIRFLOW__[A-Z_]+)=", DOCKERFILE.read_text())
    }
    probe = (
        "import json, sys\n"
        "from airflow.configuration import conf\n"
        "asked = json.load(sys.stdin)\n"
        "known = conf.configuration_description\n"  # every documented option, those without default too
        "print(json.dumps([o for o in asked if o[1] not in known.get(o[0], {}).get('options', {})]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        input=json.dumps(sorted(airflow_options)),
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "AIRFLOW_HOME": str(tmp_path),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        },
    )
    if result.returncode != 0 and "No module named 'airflow'" in result.stderr and not in_ci():
        pytest.skip("apache-airflow is not installed")
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(airflow_options) >= 8
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [], "options Airflow does not know"
