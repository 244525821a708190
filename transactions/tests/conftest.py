from __future__ import annotations

from datetime import datetime
from datetime import timezone as dt_timezone

import pytest

from accounts.models import IdTag
from accounts.tests.factories import IdTagFactory
from stations.models import Connector
from stations.tests.factories import ConnectorFactory

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=dt_timezone.utc)


@pytest.fixture
def connector() -> Connector:
    return ConnectorFactory(station__charge_point_id="CP-1", connector_id=1)


@pytest.fixture
def id_tag() -> IdTag:
    return IdTagFactory(id_tag="TAG-1")
