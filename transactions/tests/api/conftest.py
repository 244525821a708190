from accounts.tests.api_fixtures import (  # noqa: F401
    admin,
    admin_client,
    api,
    driver,
    driver_client,
    make_client,
    super_admin,
)
