"""Connection settings: sources, precedence, validation, librdkafka conversion."""

from pathlib import Path

import pytest

from callstream.errors import ConfigError
from callstream.kafka.config import KafkaSettings, client_config, load_settings


def test_flags_beat_environment_beat_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "callstream.yaml"
    config.write_text("kafka:\n  bootstrap_servers: file:9092\n  client_id: from-file\n  sasl_username: file-user\n")
    monkeypatch.setenv("CALLSTREAM_CLIENT_ID", "from-env")
    settings = load_settings(config, bootstrap_servers="flag:9092")
    assert settings.bootstrap_servers == "flag:9092"
    assert settings.client_id == "from-env"
    assert settings.sasl_username == "file-user"


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
    assert "s3cret" not in repr(settings)  # secrets never print
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


def test_no_cluster_and_no_local_broker_says_what_to_do(tmp_path: Path) -> None:
    settings = load_settings(None, state_dir=tmp_path)
    with pytest.raises(ConfigError, match="callstream kafka start"):
        client_config(settings)
