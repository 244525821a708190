import pytest

from accounts.models import Role
from accounts.tests.factories import IdTagFactory, UserFactory
from stations.models import StationStatus
from stations.tests.factories import ConnectorFactory, StationFactory
from transactions.tests.factories import MeterValueFactory, TransactionFactory


@pytest.mark.django_db
def test_factories_build_a_consistent_session() -> None:
    meter = MeterValueFactory(value=3000.0)
    tx = meter.transaction
    assert tx.station == tx.connector.station == meter.station
    assert tx.user is not None and tx.user.id_tags.get().id_tag == tx.id_tag
    assert tx.active


@pytest.mark.django_db
def test_station_password_and_online_trait() -> None:
    station = StationFactory(password="secret", online=True)
    ConnectorFactory(station=station)
    station.refresh_from_db()
    assert station.check_password("secret")
    assert station.status == StationStatus.AVAILABLE


@pytest.mark.django_db
def test_user_factory_role_and_password() -> None:
    user = UserFactory(email="a@example.com", role=Role.ADMIN, password="x-y-z-123")
    user.refresh_from_db()
    assert user.check_password("x-y-z-123") and user.is_staff
    assert IdTagFactory(user=user).user == user
    assert TransactionFactory(stopped=True).energy_wh == 7000
