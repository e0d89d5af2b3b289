from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.test import Client

from leors.access.models import User


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    # Rate-limit counters and used one-time codes live in Redis; each test starts clean.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _private_media(tmp_path, settings) -> None:  # type: ignore[no-untyped-def]
    from django.core.files.storage import storages

    settings.LEORS_PRIVATE_MEDIA_ROOT = tmp_path / "private"
    storages["private"].location = str(tmp_path / "private")  # type: ignore[attr-defined]
    storages["private"].base_location = str(tmp_path / "private")  # type: ignore[attr-defined]


def signed_in_client(user: User) -> Client:
    """A client whose session belongs to `user` (enrolled in a second factor by the factories)."""
    client = Client()
    client.force_login(user, backend="leors.access.backends.AuthenticationBackend")
    return client
