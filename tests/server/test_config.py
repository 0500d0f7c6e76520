from __future__ import annotations

import pytest

from flext_api.server import FlextApiConfig, FlextApiConfigError, create_fastapi_app
from tests.server.helpers import asgi_call


def test_defaults_are_development_with_docs() -> None:
    config = FlextApiConfig.from_env({})
    assert config.environment == "development"
    assert config.docs_enabled
    assert config.rate_limit is None
    assert config.rate_limit_fail_open is True
    # Sub-second, so that a hanging Redis costs a request a fraction of a second.
    assert config.redis_connect_timeout_seconds < 1
    assert config.redis_timeout_seconds < 1


def test_redis_and_fail_open_settings_come_from_the_environment() -> None:
    config = FlextApiConfig.from_env(
        {
            "FLEXT_API_RATE_LIMIT_FAIL_OPEN": "false",
            "FLEXT_API_REDIS_CONNECT_TIMEOUT_SECONDS": "0.1",
            "FLEXT_API_REDIS_TIMEOUT_SECONDS": "0.25",
            "FLEXT_API_READY_TIMEOUT_SECONDS": "3",
        }
    )
    assert config.rate_limit_fail_open is False
    assert config.redis_connect_timeout_seconds == 0.1
    assert config.redis_timeout_seconds == 0.25
    assert config.ready_timeout_seconds == 3.0


def test_environment_variables_are_parsed_by_field_type() -> None:
    config = FlextApiConfig.from_env(
        {
            "FLEXT_API_TITLE": "Pets",
            "FLEXT_API_ENVIRONMENT": "production",
            "FLEXT_API_CORS_ORIGINS": "https://a.example, https://b.example:8443",
            "FLEXT_API_CORS_ALLOW_CREDENTIALS": "yes",
            "FLEXT_API_MAX_BODY_BYTES": "2048",
            "FLEXT_API_BODY_TIMEOUT_SECONDS": "",
            "FLEXT_API_RATE_LIMIT": "10",
            "FLEXT_API_EXPOSE_DOCS": "off",
            "UNRELATED": "ignored",
        }
    )
    assert config.title == "Pets"
    assert config.environment == "production"
    assert config.cors_origins == ("https://a.example", "https://b.example:8443")
    assert config.cors_allow_credentials is True
    assert config.max_body_bytes == 2048
    assert config.body_timeout_seconds is None
    assert config.rate_limit == 10
    assert config.expose_docs is False


def test_arguments_beat_environment_which_beats_defaults() -> None:
    env = {"FLEXT_API_TITLE": "from-env", "FLEXT_API_VERSION": "9.9"}
    config = FlextApiConfig.from_env(env, title="from-args")
    assert config.title == "from-args"
    assert config.version == "9.9"
    assert config.description == ""


def test_process_environment_is_read_when_no_mapping_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLEXT_API_TITLE", "process-env")
    assert FlextApiConfig.from_env().title == "process-env"


@pytest.mark.parametrize(
    ("env", "field", "fragment"),
    [
        ({"FLEXT_API_MAX_BODY_BYTES": "lots"}, "max_body_bytes", "expected an integer"),
        ({"FLEXT_API_MAX_BODY_BYTES": "0"}, "max_body_bytes", "at least 1"),
        ({"FLEXT_API_ACCESS_LOG": "maybe"}, "access_log", "expected true/false"),
        ({"FLEXT_API_ENVIRONMENT": "staging"}, "environment", "development' or 'production"),
        ({"FLEXT_API_SLOW_REQUEST_MS": "-1"}, "slow_request_ms", "greater than 0"),
        ({"FLEXT_API_RATE_LIMIT_WINDOW_SECONDS": "x"}, "rate_limit_window_seconds", "a number"),
        ({"FLEXT_API_TITEL": "typo"}, "titel", "unknown setting"),
        ({"FLEXT_API_REDIS_TIMEOUT_SECONDS": "0"}, "redis_timeout_seconds", "greater than 0"),
        ({"FLEXT_API_RATE_LIMIT_FAIL_OPEN": "shut"}, "rate_limit_fail_open", "true/false"),
    ],
)
def test_invalid_environment_values_name_field_and_variable(
    env: dict[str, str], field: str, fragment: str
) -> None:
    with pytest.raises(FlextApiConfigError) as caught:
        FlextApiConfig.from_env(env)
    assert caught.value.field == field
    assert fragment in str(caught.value)
    assert f"FLEXT_API_{field.upper()}" in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"max_body_bytes": "10"}, "max_body_bytes", "expected an integer"),
        ({"access_log": 1}, "access_log", "expected a bool"),
        ({"cors_origins": ["https://a.example"]}, "cors_origins", "tuple of strings"),
        ({"cors_origins": ("https://a.example/path",)}, "cors_origins", "not an origin"),
        (
            {"cors_origins": ("*",), "cors_allow_credentials": True},
            "cors_allow_credentials",
            "'*' origin",
        ),
        ({"cors_allow_methods": ("FETCH",)}, "cors_allow_methods", "unknown method"),
        ({"cors_allow_headers": ("Bad Header",)}, "cors_allow_headers", "valid header name"),
        ({"request_id_header": "X Id"}, "request_id_header", "valid header name"),
        ({"docs_url": "docs"}, "docs_url", "starting with '/'"),
        ({"access_log_skip_paths": ("health",)}, "access_log_skip_paths", "starting with '/'"),
        ({"title": "  "}, "title", "must not be empty"),
        ({"hsts_max_age": -1}, "hsts_max_age", "0 (off) or more"),
        ({"frame_options": "ALLOW"}, "frame_options", "DENY"),
        ({"redis_url": "localhost:6379"}, "redis_url", "redis://"),
        ({"rate_limit": 0}, "rate_limit", "at least 1"),
        ({"no_such": 1}, "no_such", "unknown setting"),
    ],
)
def test_invalid_arguments_name_the_field(
    overrides: dict[str, object], field: str, fragment: str
) -> None:
    with pytest.raises(FlextApiConfigError) as caught:
        FlextApiConfig.from_env({}, **overrides)
    assert caught.value.field == field
    assert fragment in str(caught.value)
    assert f"FlextApiConfig.{field}" in str(caught.value)


def test_argument_error_does_not_blame_the_environment() -> None:
    with pytest.raises(FlextApiConfigError) as caught:
        FlextApiConfig.from_env({"FLEXT_API_MAX_BODY_BYTES": "5"}, max_body_bytes=-5)
    assert caught.value.source is None


def test_replace_validates_and_rejects_unknown_fields() -> None:
    config = FlextApiConfig(title="a")
    assert config.replace(title="b").title == "b"
    with pytest.raises(FlextApiConfigError, match="max_body_bytes"):
        config.replace(max_body_bytes=-1)
    with pytest.raises(FlextApiConfigError, match="unknown setting"):
        config.replace(colour="red")


@pytest.mark.anyio
async def test_production_turns_docs_off_and_development_serves_them() -> None:
    prod = create_fastapi_app(FlextApiConfig(environment="production"))
    dev = create_fastapi_app(FlextApiConfig(), title="Dev API")
    assert (await asgi_call(prod, "GET", "/docs")).status == 404
    assert (await asgi_call(prod, "GET", "/openapi.json")).status == 404
    docs = await asgi_call(dev, "GET", "/docs")
    assert docs.status == 200
    assert "cdn.jsdelivr.net" in docs.headers["content-security-policy"]
    schema = await asgi_call(dev, "GET", "/openapi.json")
    assert schema.json()["info"]["title"] == "Dev API"
    forced = create_fastapi_app(FlextApiConfig(environment="production", expose_docs=True))
    assert (await asgi_call(forced, "GET", "/redoc")).status == 200
