from accounts.tests.api_fixtures import fast_password_hashing  # noqa: F401
from notifications.tests.fixtures import celery_eager  # noqa: F401
