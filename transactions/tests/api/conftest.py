from accounts.tests.api_fixtures import (  # noqa: F401
    admin,
    admin_client,
    api,
    driver,
    driver_client,
    fast_password_hashing,
    make_client,
    super_admin,
)
