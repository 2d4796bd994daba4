"""Fixtures of the query-UI tests."""

import pytest
from ui_helpers import make_run, pairs, synthetic_episode


@pytest.fixture
def run(tmp_path):
    """A run with two synthetic 3-camera episodes and five queued queries."""
    episodes = [synthetic_episode("ep0", seed=0), synthetic_episode("ep1", seed=1)]
    return make_run(tmp_path / "run", episodes, pairs(5))


@pytest.fixture
def client(run):
    """A TestClient of the app over ``run`` (loopback, no token)."""
    from fastapi.testclient import TestClient

    from robopref.ui.app import create_app
    from robopref.ui.config import UIConfig

    # base_url: the Host header must be one the server answers (TestClient's is "testserver").
    with TestClient(create_app(UIConfig(run.root)), base_url="http://127.0.0.1:8765") as c:
        yield c
