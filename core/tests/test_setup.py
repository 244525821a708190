import pytest
from django.conf import settings
from django.db import connection


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_suite_runs_on_postgresql_when_required():
    assert connection.vendor == "postgresql"


def test_channel_layer_follows_redis_url():
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    if settings.REDIS_URL:
        assert backend == "core.layers.RedisChannelLayer"
    else:
        assert backend == "channels.layers.InMemoryChannelLayer"
