"""docker-compose.yml checked without a Docker engine: schema, pins, wiring.

Values that live both in the compose file and in kafka/ or the code's defaults are
compared here, so the two cannot drift apart unnoticed.
"""

import json
import re
import shlex

import jsonschema
import pytest
import yaml

from tests.conftest import ROOT, SHARED

COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def properties(name: str) -> dict[str, str]:
    """Read kafka/NAME.properties into a dict (comments and blanks skipped)."""
    pairs = {}
    for line in (ROOT / "kafka" / name).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def kafka_local_setting(name: str) -> str:
    """Return a default that kafka/local sets, e.g. topic or partitions."""
    text = (ROOT / "kafka" / "local").read_text()
    match = re.search(rf'^{name}="?\$?{{?[A-Z_]*:?-?([^}}"\n]*)', text, re.MULTILINE)
    assert match, f"kafka/local sets no {name}"
    return match.group(1)


def test_compose_file_is_valid_against_the_compose_schema(compose):
    schema = json.loads((SHARED / "compose-spec" / "compose-spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(compose)


def test_every_image_is_pinned_to_a_version(services):
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name} has no image"
        repository, _, tag = image.rpartition(":")
        assert repository and tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image} is not pinned"
    (base,) = re.findall(r"^FROM (\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert re.search(r":\d+\.\d+\.\d+", base), f"Dockerfile base {base} is not pinned"


def test_confluent_images_are_one_7_9_release(services):
    tags = {services[name]["image"] for name in ("zookeeper", "kafka", "topic-init")}
    versions = {image.rpartition(":")[2] for image in tags}
    assert len(versions) == 1
    assert next(iter(versions)).startswith("7.9.")


def test_zookeeper_and_kafka_have_healthchecks(services):
    for name in ("zookeeper", "kafka"):
        check = services[name]["healthcheck"]
        assert check["test"], f"{name} healthcheck has no test"
        assert check.get("retries", 0) >= 3


def test_start_order_waits_for_health_and_topic(services):
    assert services["kafka"]["depends_on"]["zookeeper"]["condition"] == (
        "service_healthy"
    )
    assert services["topic-init"]["depends_on"]["kafka"]["condition"] == (
        "service_healthy"
    )
    for name in ("server", "spec"):
        depends = services[name]["depends_on"]
        assert depends["kafka"]["condition"] == "service_healthy"
        assert depends["topic-init"]["condition"] == "service_completed_successfully"
    assert services["spec"]["depends_on"]["spec-init"]["condition"] == (
        "service_completed_successfully"
    )


def test_topic_init_matches_kafka_local(services):
    command = services["topic-init"]["command"]
    assert "--if-not-exists" in command
    topic = command[command.index("--topic") + 1]
    partitions = command[command.index("--partitions") + 1]
    assert command[command.index("--replication-factor") + 1] == "1"
    assert topic == kafka_local_setting("topic")
    assert partitions == kafka_local_setting("partitions")
    for name in ("server", "spec"):
        assert services[name]["environment"]["RECORDING_TOPIC"] == topic


def test_broker_settings_match_kafka_local(services):
    environment = services["kafka"]["environment"]
    local = properties("server.properties")
    for key in (
        "broker.id",
        "num.partitions",
        "default.replication.factor",
        "offsets.topic.replication.factor",
        "offsets.topic.num.partitions",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "group.initial.rebalance.delay.ms",
        "auto.create.topics.enable",
    ):
        variable = "KAFKA_" + key.upper().replace(".", "_")
        assert str(environment[variable]).lower() == local[key].lower(), key
    zookeeper = properties("zookeeper.properties")
    assert (
        services["zookeeper"]["environment"]["ZOOKEEPER_4LW_COMMANDS_WHITELIST"]
        == (zookeeper["4lw.commands.whitelist"])
    )


def test_listeners_serve_the_network_and_the_host(services):
    environment = services["kafka"]["environment"]
    advertised = dict(
        item.split("://")
        for item in environment["KAFKA_ADVERTISED_LISTENERS"].split(",")
    )
    assert advertised["EXTERNAL"] == "localhost:9092"
    assert "127.0.0.1:9092:9092" in services["kafka"]["ports"]
    for name in ("server", "spec"):
        assert services[name]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == (
            "kafka:" + advertised["INTERNAL"].rpartition(":")[2]
        )
    health = " ".join(services["kafka"]["healthcheck"]["test"])
    assert advertised["INTERNAL"].rpartition(":")[2] in health


def test_app_services_run_one_image_as_a_non_root_user(services):
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER (?!root)\S+", dockerfile, re.M)
    assert "pip install -r requirements.txt" in dockerfile
    for folder in ("server", "recorder", "spec_from_stream"):
        assert f"COPY {folder}/ {folder}/" in dockerfile
    images = {services[name]["image"] for name in ("server", "spec", "spec-init")}
    assert len(images) == 1
    uid = re.search(r"useradd --uid (\d+)", dockerfile).group(1)
    chown = services["spec-init"]["command"]
    assert chown[:3] == ["chown", "-R", f"{uid}:{uid}"]


def test_app_commands_point_at_real_files(services):
    server = services["server"]["command"]
    config = server[server.index("--config") + 1]
    assert (ROOT / config).is_file()
    module, _, attribute = server[-1].partition(":")
    assert (ROOT / (module.replace(".", "/") + ".py")).is_file()
    assert attribute == "app"
    assert services["spec"]["command"][:3] == ["python", "-m", "spec_from_stream"]
    assert (ROOT / "spec_from_stream" / "__main__.py").is_file()


def test_spec_output_and_viewer_are_published(services):
    spec = services["spec"]
    out = spec["environment"]["SPEC_OUT_DIR"]
    assert f"./spec:{out}" in spec["volumes"]
    port = str(spec["environment"]["SPEC_SERVE_PORT"])
    assert f"127.0.0.1:{port}:{port}" in spec["ports"]
    assert "127.0.0.1:5000:5000" in services["server"]["ports"]


def test_ports_are_published_on_the_loopback_only(services):
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port}"


def test_named_volumes_hold_the_broker_data(compose, services):
    declared = set(compose["volumes"])
    used = set()
    for name in ("zookeeper", "kafka"):
        for volume in services[name]["volumes"]:
            used.add(volume.split(":")[0])
    assert used and used <= declared


def test_healthcheck_commands_are_well_formed(services):
    for name in ("zookeeper", "kafka", "server"):
        test = services[name]["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL")
        if test[0] == "CMD-SHELL":
            shlex.split(test[1])
