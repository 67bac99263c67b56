"""djws.conf: ``WEBSOCKET_*`` settings read once, forgotten when Django says they changed."""

from __future__ import annotations

import pytest
from django.test import override_settings

from djws.conf import DEFAULTS, Settings

pytestmark = pytest.mark.fast


def test_a_setting_is_read_once_and_forgotten_when_it_changes() -> None:
    settings = Settings()
    default = DEFAULTS["WEBSOCKET_STREAM_MAX_AGE"]
    assert default == settings.WEBSOCKET_STREAM_MAX_AGE
    assert vars(settings) == {"WEBSOCKET_STREAM_MAX_AGE": default}  # kept: no second look
    with override_settings(WEBSOCKET_STREAM_MAX_AGE=30.0):
        assert settings.WEBSOCKET_STREAM_MAX_AGE == 30.0
    assert default == settings.WEBSOCKET_STREAM_MAX_AGE
    with override_settings(WEBSOCKET_CLOSE_TIMEOUT=1.5):  # another setting: this one is kept
        assert "WEBSOCKET_STREAM_MAX_AGE" in vars(settings)


def test_an_unknown_setting_is_an_attribute_error_naming_the_app() -> None:
    settings = Settings()
    with pytest.raises(AttributeError, match="djws has no setting 'WEBSOCKET_NO_SUCH'"):
        _ = settings.WEBSOCKET_NO_SUCH
    assert vars(settings) == {}
