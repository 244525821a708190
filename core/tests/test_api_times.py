import pytest
from django.test import Client
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.tests.factories import UserFactory
from stations.models import Command
from stations.tests.factories import StationFactory


@pytest.mark.django_db
@pytest.mark.parametrize("session_login", [False, True])
def test_api_times_are_utc_with_a_z_whatever_the_operators_time_zone(session_login: bool) -> None:
    admin = UserFactory(role="admin", time_zone="America/New_York")
    command = Command.objects.create(station=StationFactory(), action="Reset", request={"type": "Soft"})
    client = Client()
    if session_login:
        client.force_login(admin)
        headers = {}
    else:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {RefreshToken.for_user(admin).access_token}"}
    body = client.get(f"/api/v1/commands/{command.pk}/", **headers).json()
    assert body["created_at"].endswith("Z")
    assert body["created_at"].startswith(command.created_at.strftime("%Y-%m-%dT%H:%M"))
