"""The query web app: a FastAPI app over a run's label store and clip cache.

Endpoints (JSON; errors are ``{"error": message}`` with a 4xx status, and write nothing):

=========================== ===================================================================
``GET /``                   the page (``static/index.html``)
``GET /api/info``           run, task, its description, default annotator, poll interval
``GET /api/next``           ``?annotator=NAME[&exclude=ID,ID]``: the oldest open query NAME has
                            not answered, with its clips (encoded if needed); 204 when none.
                            Starts encoding the query after it in the background.
``GET /api/query/{id}``     one query with its clips (the page shows an undone query again)
``POST /api/label``         ``{query_id, label, annotator, client_label_id?}``: answers only
                            after the label is committed; a repeated ``client_label_id`` is
                            stored once (``duplicate: true``). 404 unknown query, 409 already
                            answered by this annotator, 400 bad label or annotator.
``POST /api/undo``          ``{annotator}``: deletes the annotator's last label
``GET /api/counts``         queries (total, queued, labelled) and labels by value
``GET /api/me``             ``?annotator=NAME``: NAME's label count and, once enough gold pairs
                            are among their labels, their agreement with the gold answers
``GET /api/stats``          every annotator's figures (as ``/api/me``) and the queue; also
                            served as ``GET /stats``
``GET /api/health``         queries being prefetched, clips encoded by this process
``GET /media/{name}``       a clip of the run's clip cache (Range requests for seeking)
=========================== ===================================================================

Every request body is capped at `robopref.ui.security.MAX_BODY_BYTES` (413 above it); ids
past SQLite's 64-bit range and names with control characters or lone surrogates are a 400
(the label store's checks, `robopref.preferences.records`).

Gold pairs (issue 18) are never marked: a query's JSON has no selector or score, gold queries
sit among the others in id order, and agreement figures move only per block of labels
(`robopref.preferences.calibration.annotator_figures`).

Handlers are plain functions (FastAPI runs them on its thread pool): the label store is
synchronous SQLite, one connection per thread. Nothing here trains a model (DESIGN.md: the
UI must not train in the request path); labels reach the trainer through the store.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from robopref.preferences import (
    LABELS,
    DuplicateLabelError,
    Label,
    LabelStore,
    LabelStoreError,
    Query,
    UnknownQueryError,
)
from robopref.preferences.calibration import annotator_figures
from robopref.preferences.records import check_text
from robopref.runs import RunPaths
from robopref.ui.clips import ClipCache, SegmentMedia
from robopref.ui.config import UIConfig
from robopref.ui.episodes import run_task
from robopref.ui.security import AccessMiddleware, MediaPathError, safe_clip_path

STATIC = Path(__file__).with_name("static")
_STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
_MEDIA_TYPES = {".mp4": "video/mp4", ".webm": "video/webm"}
#: Most query ids a client may exclude in one /api/next call.
MAX_EXCLUDE = 100
#: The page's keyboard map, shown on the page (the page reads it from /api/info).
KEYS = {
    "a": ["ArrowLeft"],
    "b": ["ArrowRight"],
    "equal": ["ArrowDown", "="],
    "skip": [" ", "s"],
    "undo": ["u"],
    "play": ["p"],
}


class LabelIn(BaseModel):
    """The body of ``POST /api/label``."""

    # strict: "3" is not a query id; forbid: a typo'd field is an error, not ignored.
    model_config = ConfigDict(strict=True, extra="forbid")
    query_id: int
    label: str
    annotator: str
    client_label_id: str | None = None


class UndoIn(BaseModel):
    """The body of ``POST /api/undo``."""

    model_config = ConfigDict(strict=True, extra="forbid")
    annotator: str


def label_json(label: Label) -> dict[str, Any]:
    out = label._asdict()
    out["seg_a"], out["seg_b"] = list(label.seg_a), list(label.seg_b)
    return out


def _segment_json(media: SegmentMedia) -> dict[str, Any]:
    return {
        "episode_id": media.episode_id,
        "start": media.start,
        "length": media.length,
        "fps": media.fps,
        "task": media.task,
        "cameras": [{"camera": c, "url": f"/media/{quote(media.files[c])}"} for c in media.cameras],
        "error": media.error,
    }


def _parse_exclude(text: str) -> list[int]:
    parts = [p for p in text.split(",") if p.strip()]
    if len(parts) > MAX_EXCLUDE:
        raise HTTPException(400, f"exclude: at most {MAX_EXCLUDE} query ids, got {len(parts)}")
    try:
        ids = [int(p) for p in parts]
    except ValueError:
        raise HTTPException(
            400, f"exclude: expected comma-separated query ids, got {text!r}"
        ) from None
    if any(i < 0 for i in ids):
        raise HTTPException(400, f"exclude: query ids are >= 0, got {text!r}")
    return ids


def create_app(config: UIConfig) -> FastAPI:
    """The app serving ``config.run_dir``; opens (or creates) the run's label store.

    Raises:
        FileNotFoundError: the run directory does not exist.
    """
    run = RunPaths.of(config.run_dir)
    if not run.root.is_dir():
        raise FileNotFoundError(f"no run directory at {run.root}")
    default_task = run_task(run)
    store = LabelStore(run.labels)
    clips = ClipCache(run, config.codec, config.min_size, config.encode_workers)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        clips.close()
        store.close()

    app = FastAPI(
        title="robopref query UI", docs_url=None, redoc_url=None, openapi_url=None,
        lifespan=lifespan,
    )  # fmt: skip
    app.state.store, app.state.clips, app.state.config = store, clips, config
    app.add_middleware(AccessMiddleware, config=config)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        ]
        return JSONResponse({"error": "; ".join(problems) or "invalid request"}, 422)

    def counts() -> dict[str, Any]:
        c = store.counts()
        return {
            "queries": c.queries, "queued": c.queued, "labelled": c.labelled,
            "labels": c.labels, "by_label": c.by_label,
        }  # fmt: skip

    # The instruction shown above the clips comes from the run (``task.json``, written by
    # the trainer) or, for episodes imported without one, from the episodes themselves: the
    # UI never imports the simulator that defines the task.
    run_description = run.task_description()

    def query_json(query: Query) -> dict[str, Any]:
        a, b = clips.query(query)
        task = default_task or a.task or b.task
        return {
            # No selector or score: either could tell a gold query from the others.
            "query": {
                "id": query.id, "k": query.k, "n_labels": query.n_labels, "status": query.status,
            },
            "task": task,
            "description": run_description or a.description or b.description,
            "a": _segment_json(a),
            "b": _segment_json(b),
            "counts": counts(),
        }  # fmt: skip

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        if name not in _STATIC_FILES:
            raise HTTPException(404, f"no static file {name!r}")
        return FileResponse(
            STATIC / name, media_type=_STATIC_FILES[name], headers={"Cache-Control": "no-cache"}
        )

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        return {
            "run": run.root.name, "task": default_task, "description": run_description,
            "annotator": config.annotator, "poll_ms": config.poll_ms, "labels": list(LABELS),
            "keys": KEYS, "codec": config.codec,
        }  # fmt: skip

    @app.get("/api/counts")
    def get_counts() -> dict[str, Any]:
        return counts()

    def figures() -> dict[str, dict[str, Any]]:
        return annotator_figures(store.labels(), store.gold())

    @app.get("/api/me")
    def me(annotator: str) -> dict[str, Any]:
        try:
            name = check_text("annotator", annotator)
        except LabelStoreError as e:
            raise HTTPException(400, str(e)) from e
        mine = figures().get(name, {"labels": 0, "gold": 0, "agreement": None})
        return {"annotator": name, **mine}

    @app.get("/api/stats")
    @app.get("/stats")
    def stats() -> dict[str, Any]:
        return {"annotators": figures(), "queue": counts()}

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "prefetching": clips.prefetching, "clips_encoded": clips.encoded}

    @app.get("/api/next", response_model=None)
    def next_query(annotator: str, exclude: str = "") -> dict[str, Any] | Response:
        ids = _parse_exclude(exclude)
        try:
            query = store.next_query(annotator, ids)
        except LabelStoreError as e:
            raise HTTPException(400, str(e)) from e
        if query is None:
            return Response(status_code=204, headers={"Cache-Control": "no-store"})
        body = query_json(query)
        # The page shows `query` now and preloads the one after it: start encoding that one.
        after = store.next_query(annotator, [*ids, query.id])
        if after is not None:
            clips.prefetch(after)
        return body

    @app.get("/api/query/{query_id}")
    def get_query(query_id: int) -> dict[str, Any]:
        try:
            query = store.get_query(query_id)
        except UnknownQueryError as e:
            raise HTTPException(404, str(e)) from e
        except LabelStoreError as e:
            raise HTTPException(400, str(e)) from e
        return query_json(query)

    @app.post("/api/label")
    def post_label(body: LabelIn) -> dict[str, Any]:
        try:
            added = store.add_label(
                body.query_id, body.label, body.annotator, body.client_label_id, source="ui"
            )
        except UnknownQueryError as e:
            raise HTTPException(404, str(e)) from e
        except DuplicateLabelError as e:
            raise HTTPException(409, str(e)) from e
        except LabelStoreError as e:
            raise HTTPException(400, str(e)) from e
        # Returned only now: add_label came back, so the label's transaction has committed.
        return {"label": label_json(added.label), "duplicate": added.duplicate, "counts": counts()}

    @app.post("/api/undo")
    def undo(body: UndoIn) -> dict[str, Any]:
        try:
            undone = store.undo_last(body.annotator)
        except LabelStoreError as e:
            raise HTTPException(400, str(e)) from e
        return {"undone": None if undone is None else label_json(undone), "counts": counts()}

    @app.api_route("/media/{name:path}", methods=["GET", "HEAD"], include_in_schema=False)
    def media(name: str) -> FileResponse:
        try:
            path = safe_clip_path(clips.dir, name)
        except MediaPathError as e:
            raise HTTPException(e.status, str(e)) from e
        return FileResponse(
            path,
            media_type=_MEDIA_TYPES[Path(name).suffix],
            # Clip names are derived from the segment, whose frames never change.
            headers={"Cache-Control": "private, max-age=86400"},
        )

    return app
