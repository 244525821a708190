from __future__ import annotations

import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db


def test_the_billing_api_is_described_without_warnings() -> None:
    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    messages = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    GENERATOR_STATS.reset()
    validate_schema(schema)
    assert [m for m in messages if "/billing/" in m] == []
    paths = schema["paths"]
    for path in ["/api/v1/billing/tariffs/", "/api/v1/billing/ledger/", "/api/v1/billing/topups/",
                 "/api/v1/billing/guest-sessions/", "/api/v1/billing/webhooks/stripe/",
                 "/api/v1/billing/receipts/{id}/", "/api/v1/billing/statements/", "/api/v1/billing/revenue/"]:
        assert path in paths, path
    assert {"200", "401", "404"} <= set(paths["/api/v1/billing/receipts/{id}/"]["get"]["responses"])
