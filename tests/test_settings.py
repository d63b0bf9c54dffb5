"""The one settings root: sources, precedence, validation, librdkafka conversion, and how
child processes receive the settings."""

import os
from pathlib import Path

import pytest

from callstream.errors import ConfigError
from callstream.kafka.config import KafkaSettings
from callstream.settings import Settings, child_environment, client_config, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CALLSTREAM_* from the machine, and no ./callstream.yaml, leaks into these tests."""
    import os

    for name in list(os.environ):
        if name.startswith("CALLSTREAM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_flags_beat_environment_beat_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "callstream.yaml"
    config.write_text("kafka:\n  bootstrap_servers: file:9092\n  client_id: from-file\n  sasl_username: file-user\n"
                      "archive:\n  warehouse: /file/warehouse\n  flush_max_rows: 10\n"
                      "dashboard:\n  port: 9001\n  host: 0.0.0.0\n"
                      "state_dir: /file/state\n")
    monkeypatch.setenv("CALLSTREAM_CLIENT_ID", "from-env")
    monkeypatch.setenv("CALLSTREAM_ARCHIVE_FLUSH_MAX_ROWS", "20")
    monkeypatch.setenv("CALLSTREAM_DASHBOARD_PORT", "9002")
    monkeypatch.setenv("CALLSTREAM_STATE_DIR", "/env/state")
    settings = load_settings(config, bootstrap_servers="flag:9092", state_dir=Path("/flag/state"))
    assert settings.kafka.bootstrap_servers == "flag:9092"
    assert settings.kafka.client_id == "from-env"
    assert settings.kafka.sasl_username == "file-user"
    assert settings.archive.warehouse == "/file/warehouse" and settings.archive.flush_max_rows == 20
    assert settings.dashboard.port == 9002 and settings.dashboard.host == "0.0.0.0"
    assert settings.state_dir == Path("/flag/state")
    assert load_settings(config).state_dir == Path("/env/state")


def test_the_archive_section_reaches_s3_from_the_environment_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSTREAM_ARCHIVE_WAREHOUSE", "s3://calls/warehouse")
    monkeypatch.setenv("CALLSTREAM_ARCHIVE_S3__ENDPOINT", "http://127.0.0.1:9000")
    monkeypatch.setenv("CALLSTREAM_ARCHIVE_S3__ACCESS_KEY_ID", "archiver")
    monkeypatch.setenv("CALLSTREAM_ARCHIVE_S3__SECRET_ACCESS_KEY", "very-secret")
    archive = load_settings(None, state_dir=Path("/srv/callstream")).archive_settings()
    assert archive.is_s3 and archive.warehouse == "s3://calls/warehouse"
    assert archive.catalog_properties()["s3.secret-access-key"] == "very-secret"
    assert archive.catalog_uri == "sqlite:////srv/callstream/archive/catalog.db"
    assert "very-secret" not in repr(archive)


def test_an_s3_warehouse_without_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSTREAM_ARCHIVE_WAREHOUSE", "s3://calls/warehouse")
    with pytest.raises(ConfigError, match="is on S3 but no s3 settings were given"):
        load_settings(None).archive_settings()


def test_child_environment_recreates_every_setting_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here")
    config = tmp_path / "parent.yaml"
    config.write_text(
        "kafka:\n  bootstrap_servers: b1:9093\n  security_protocol: SASL_SSL\n  sasl_mechanism: SCRAM-SHA-512\n"
        f"  sasl_username: svc-archiver\n  sasl_password: p@ss word\n  ssl_ca_location: {ca}\n"
        "  librdkafka: {socket.timeout.ms: '5000'}\n"
        "archive:\n  warehouse: s3://calls/w\n  s3: {endpoint: 'http://127.0.0.1:9', access_key_id: a, secret_access_key: s}\n"
        "dashboard: {port: 9100}\n")
    parent = load_settings(config, state_dir=tmp_path / "state")
    for name, value in child_environment(parent).items():
        monkeypatch.setenv(name, value)
    child = load_settings(None)
    assert child == parent
    assert child.kafka.to_librdkafka() == parent.kafka.to_librdkafka()
    assert child.archive_settings().catalog_properties() == parent.archive_settings().catalog_properties()


def test_sasl_settings_convert_to_librdkafka_and_back() -> None:
    settings = KafkaSettings(
        bootstrap_servers="b1:9093,b2:9093", security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc-redactor", sasl_password="s3cret", librdkafka={"socket.timeout.ms": "5000"},
    )
    conf = settings.to_librdkafka()
    assert conf == {
        "bootstrap.servers": "b1:9093,b2:9093", "client.id": "callstream", "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "svc-redactor", "sasl.password": "s3cret",
        "socket.timeout.ms": "5000",
    }
    assert "s3cret" not in repr(settings) and "s3cret" not in repr(Settings(kafka=settings))  # secrets never print
    again = KafkaSettings.from_librdkafka(conf)
    assert again.to_librdkafka() == conf


def test_sasl_without_credentials_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="sasl_username and sasl_password"):
        load_settings(None, bootstrap_servers="b:9092", security_protocol="SASL_SSL", sasl_mechanism="PLAIN")


def test_unknown_security_protocol_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSTREAM_SECURITY_PROTOCOL", "TLS")
    with pytest.raises(ConfigError, match="security_protocol"):
        load_settings(None)


def test_missing_tls_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ssl_ca_location"):
        load_settings(None, bootstrap_servers="b:9093", security_protocol="SSL", ssl_ca_location=tmp_path / "nope.pem")


def test_bad_config_file_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("kafka: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_settings(config)
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.yaml")
    config.write_text("kafak:\n  bootstrap_servers: x:1\n")
    with pytest.raises(ConfigError, match="unknown key.*kafak.*use the sections kafka, archive, dashboard"):
        load_settings(config)
    config.write_text("archive:\n  flush_max_rows: -1\n")
    with pytest.raises(ConfigError, match="flush_max_rows"):
        load_settings(config)


def test_no_cluster_and_no_local_broker_says_what_to_do(tmp_path: Path) -> None:
    settings = load_settings(None, state_dir=tmp_path)
    with pytest.raises(ConfigError, match="callstream kafka start"):
        client_config(settings)


def test_children_connect_with_sasl_settings_that_never_reach_a_command_line(session_cluster, pipeline, tmp_path):
    """Workers, the archiver and the dashboard started the way `up` starts them, under SASL
    settings with an inline password: each connects with them, and no child's command line
    (world-readable through /proc and ps) holds the secret."""
    import time
    import urllib.request

    from callstream.contract.events import TranscriptSegment
    from callstream.local.broker import free_ports
    from callstream.local.credentials import Credentials
    from callstream.local.processes import ProcessGroup
    from callstream.settings import child_process_environment

    password = Credentials.load(session_cluster.state_dir).password("admin")
    settings = load_settings(None, bootstrap_servers=session_cluster.bootstrap_servers, security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="SCRAM-SHA-512", sasl_username="admin", sasl_password=password,
                             state_dir=tmp_path / "state")
    group = ProcessGroup(tmp_path / "logs", child_process_environment(settings))
    suffix = pipeline["callstream.deadletter"].rsplit(".", 1)[-1]
    port = free_ports(1)[0]
    try:
        group.spawn("redactor", "callstream.processors.worker", "redactor", "--group", f"callstream-redactor-{suffix}",
                    "--topic-map", pipeline.topic_map)
        group.spawn("archiver", "callstream.archive.archiver", "--group", f"callstream-archiver-{suffix}",
                    "--topic", pipeline["callstream.transcript.redacted"])
        group.spawn("dashboard", "callstream.observe.dashboard", "--port", str(port), "--topic-map", pipeline.topic_map)
        now = int(time.time() * 1000)
        pipeline.produce("callstream.transcript.raw", [TranscriptSegment(
            event_id="raw-1", contact_id="call-1", event_time_ms=now, produced_at_ms=now, producer="test",
            segment_id="seg-1", sequence=1, participant="customer", start_offset_ms=0, end_offset_ms=900,
            text="my card is 4111 1111 1111 1111", is_final=True)])
        redacted = pipeline.read_events("callstream.transcript.redacted", lambda ms: len(ms) >= 1, timeout_s=90)
        assert redacted and "4111" not in redacted[0].text  # the worker connected with the parent's credentials
        metrics, deadline = "", time.monotonic() + 90
        brokers_up = f'callstream_brokers{{state="up"}} {len(session_cluster.nodes) if session_cluster else 1}.0'
        while brokers_up not in metrics and time.monotonic() < deadline:
            try:
                metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            except OSError:
                time.sleep(1)
        assert brokers_up in metrics  # so did the dashboard's observer
        assert not group.dead(), [c.log_path.read_text()[-2000:] for c in group.dead()]
        for child in group.children.values():
            cmdline = Path(f"/proc/{child.pid}/cmdline").read_bytes()
            assert password.encode() not in cmdline and b"sasl" not in cmdline.lower(), child.name
            assert Path(f"/proc/{child.pid}/environ").stat().st_mode & 0o077 == 0  # only its owner reads it
    finally:
        group.stop_all()
    assert password not in "".join(c.log_path.read_text() for c in group.children.values())  # nor in any log


def test_named_clusters_come_from_the_file_and_environment_and_reach_children(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "callstream.yaml").write_text(
        "clusters:\n  b:\n    bootstrap_servers: b1:9093\n    security_protocol: SASL_SSL\n"
        "    sasl_mechanism: SCRAM-SHA-512\n    sasl_username: migrator\n")
    monkeypatch.setenv("CALLSTREAM_CLUSTER_B_SASL_PASSWORD", "b-secret")
    monkeypatch.setenv("CALLSTREAM_SASL_MECHANISM", "PLAIN")  # the platform's own connection: not b's
    monkeypatch.setenv("CALLSTREAM_CLUSTERS", '{"c": {"bootstrap_servers": "c1:9092"}}')
    settings = load_settings()
    b, c = settings.clusters["b"], settings.clusters["c"]
    assert (b.bootstrap_servers, b.sasl_mechanism, b.sasl_password.get_secret_value()) == ("b1:9093", "SCRAM-SHA-512", "b-secret")
    assert (c.bootstrap_servers, c.sasl_mechanism, c.security_protocol) == ("c1:9092", None, "PLAINTEXT")

    for name in [n for n in os.environ if n.startswith("CALLSTREAM_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path / "..")  # no config file: the child has only its environment
    for name, value in child_environment(settings).items():
        monkeypatch.setenv(name, value)
    assert load_settings().clusters == settings.clusters


def test_a_named_cluster_without_bootstrap_servers_is_refused(tmp_path: Path) -> None:
    (tmp_path / "callstream.yaml").write_text("clusters:\n  b:\n    client_id: x\n")
    with pytest.raises(ConfigError, match="cluster 'b' .* needs bootstrap_servers"):
        load_settings()
