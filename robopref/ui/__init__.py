"""The browser query UI: label preference pairs live with training (``robopref label``).

* `UIConfig` (`robopref.ui.config`): where to serve, to whom, which codec.
* `create_app` (`robopref.ui.app`): the FastAPI app over a run's label store; `serve`
  (`robopref.ui.server`) runs it with uvicorn.
* `ClipCache` (`robopref.ui.clips`): one clip per segment and camera in the run's ``clips/``,
  the next query encoded in the background.
* `import_episodes`, `add_uniform_queries` (`robopref.ui.episodes`): label recorded episodes
  without a trainer.
* `robopref.ui.security`: the Host, token and same-origin checks and the media path check.
* ``static/``: the page (plain HTML, CSS and JavaScript; no build step).

Importing this package does not import FastAPI or uvicorn; `create_app` and `serve` do.
"""

from robopref.ui.clips import ClipCache, SegmentMedia
from robopref.ui.config import UIConfig
from robopref.ui.episodes import add_uniform_queries, import_episodes


def create_app(config: UIConfig):
    """`robopref.ui.app.create_app` (imported on use: it needs FastAPI)."""
    from robopref.ui.app import create_app as _create_app

    return _create_app(config)


def serve(config: UIConfig, **summary) -> None:
    """`robopref.ui.server.serve` (imported on use: it needs uvicorn)."""
    from robopref.ui.server import serve as _serve

    _serve(config, **summary)


__all__ = [
    "ClipCache",
    "SegmentMedia",
    "UIConfig",
    "add_uniform_queries",
    "create_app",
    "import_episodes",
    "serve",
]
