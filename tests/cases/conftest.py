"""Fixtures shared by the clock tests (R7, R8)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def exchange_webhook(settings: Any) -> None:
    """The exchange's webhook configured, so each change of a restriction queues its event (`clock_cast.webhook_data`)."""
    settings.LEORS_EXCHANGE_WEBHOOK_URL = "https://exchange.example/leors/webhooks"
    settings.LEORS_EXCHANGE_WEBHOOK_SECRET = "s" * 40
