"""The web layer's tests run real hub processes, like the integration tests."""

from tests.chatserver.integration.conftest import hub, hub_env

__all__ = ["hub", "hub_env"]
