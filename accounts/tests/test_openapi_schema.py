from __future__ import annotations

import pytest
import yaml
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_the_whole_schema_is_valid_openapi_and_generates_without_warnings():
    """What ``manage.py spectacular --validate --fail-on-warn`` checks, for every area's views."""
    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    messages = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    GENERATOR_STATS.reset()
    assert messages == []


def test_every_api_v1_endpoint_is_described_with_its_errors(api):
    r = api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    assert r.status_code == 200
    schema = yaml.safe_load(r.content)
    paths = schema["paths"]
    for path in ["/api/v1/auth/register/", "/api/v1/auth/token/", "/api/v1/auth/token/refresh/", "/api/v1/me/",
                 "/api/v1/users/", "/api/v1/users/{id}/credit/", "/api/v1/stations/",
                 "/api/v1/stations/{charge_point_id}/", "/api/v1/stations/{charge_point_id}/start/",
                 "/api/v1/stations/{charge_point_id}/reserve/", "/api/v1/reservations/{id}/cancel/",
                 "/api/v1/transactions/", "/api/v1/transactions/{id}/meter-values/", "/api/v1/id-tags/",
                 "/api/v1/reports/monthly/"]:
        assert path in paths, path
    start = paths["/api/v1/stations/{charge_point_id}/start/"]["post"]
    assert {"200", "400", "401", "402", "403", "404", "409", "502", "504"} <= set(start["responses"])
    assert "requestBody" in start


def test_the_docs_page_is_served(api):
    r = api.get("/api/v1/docs/")
    assert r.status_code == 200 and b"swagger" in r.content.lower()
