"""The page in a real Chromium (Playwright): videos play in sync, labels by keys and clicks,
undo, live queries, the remembered annotator name. Saves the README's screenshot.

Playwright drives the system Chromium (Debian ``chromium``); it never downloads a browser.
``docs/ui-screenshot.png`` is written when missing or with ``ROBOPREF_UPDATE_SCREENSHOT=1``
(it changes with every run's video frames, so a plain test run leaves the file alone).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from ui_helpers import REPO, make_run, pairs, synthetic_episode, thread_server

from robopref.preferences import LabelStore, SegmentPool, select_queries
from robopref.ui.config import UIConfig

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = REPO / "docs" / "ui-screenshot.png"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"no Chromium at {CHROMIUM} (apt-get install chromium chromium-driver)",
    ),
]
VIDEOS = "#stage video"


def record_reach_episodes() -> list:
    """Three short 3-camera panda-reach episodes: the expert twice (two seeds), random once."""
    import sim
    from robopref.rollout import random_policy, record_episode

    env = sim.make("panda-reach", cameras=("front", "side", "wrist"), image_size=96)
    try:
        rng = np.random.default_rng(0)
        meta = dict(task="panda-reach", backend="mujoco", robot="franka_panda", control_hz=20)
        episodes = [
            record_episode(env, sim.expert("panda-reach"), seed=s, source="expert", **meta)
            for s in (0, 1)
        ]
        episodes.append(
            record_episode(env, random_policy(env, rng), seed=2, source="random", **meta)
        )
    finally:
        env.close()
    return episodes


@pytest.fixture(scope="module")
def reach_run(tmp_path_factory):
    episodes = record_reach_episodes()
    length = min(14, min(ep.length for ep in episodes))
    specs = select_queries(
        "uniform", SegmentPool(episodes, length, stride=2), 40, np.random.default_rng(1)
    )
    # Pairs of two different episodes (an expert against the random one reads best on the
    # screenshot); uniform draws also pair overlapping windows of one episode.
    specs = [s for s in specs if s.seg_a.episode_id != s.seg_b.episode_id][:5]
    return make_run(tmp_path_factory.mktemp("ui") / "reach-run", episodes, specs)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


def labels_of(run, annotator: str) -> list[tuple[int, str]]:
    with LabelStore(run.labels) as store:
        return [(r.query_id, r.label) for r in store.labels() if r.annotator == annotator]


def shown_query(page) -> int:
    return int(page.get_attribute("#stage .pair", "data-query-id"))


def wait_for_query(page, query_id: int) -> None:
    page.wait_for_selector(f'#stage .pair[data-query-id="{query_id}"]', timeout=20_000)


def wait_until_all_videos_play(page, past: float = 0.15) -> list[dict]:
    """Waits until every view of both segments has played past ``past`` seconds."""
    page.wait_for_function(
        """([sel, past]) => {
            const vs = [...document.querySelectorAll(sel)];
            return vs.length > 0 && vs.every(v => v.currentTime > past && !v.paused);
        }""",
        arg=[VIDEOS, past],
        timeout=20_000,
    )
    return page.eval_on_selector_all(
        VIDEOS,
        "vs => vs.map(v => ({side: v.dataset.side, camera: v.dataset.camera, "
        "t: v.currentTime, duration: v.duration, width: v.videoWidth}))",
    )


def test_label_in_chromium(reach_run, browser, tmp_path):
    run = reach_run
    config = UIConfig(run.root, annotator="ann", poll_ms=300)
    with thread_server(config) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 600})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)

        # The task, the keyboard map and the remembered-or-default annotator are shown.
        page.wait_for_selector(VIDEOS)
        assert page.inner_text("#description") == "Move the gripper to the green sphere."
        footer = page.inner_text("footer")
        for text in ("←", "→", "↓", "=", "space", "s", "u"):
            assert text in footer
        assert page.input_value("#annotator") == "ann"
        assert shown_query(page) == 1

        # Both segments, all three views each, play; the views stay in step.
        views = wait_until_all_videos_play(page)
        assert sorted((v["side"], v["camera"]) for v in views) == [
            (s, c) for s in "ab" for c in ("front", "side", "wrist")
        ]
        assert all(v["width"] == 192 for v in views)  # 96 px renders upscaled to >= 168
        times = [v["t"] for v in page.eval_on_selector_all(VIDEOS, "vs => vs.map(v => "
                                                          "({t: v.currentTime}))")]  # fmt: skip
        assert max(times) - min(times) < 0.35
        shot = tmp_path / "ui.png"
        page.screenshot(path=str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if not SCREENSHOT.exists() or os.environ.get("ROBOPREF_UPDATE_SCREENSHOT") == "1":
            SCREENSHOT.parent.mkdir(exist_ok=True)
            shutil.copyfile(shot, SCREENSHOT)

        # Pause stops every view; play resumes them.
        page.keyboard.press("p")
        page.wait_for_function("() => [...document.querySelectorAll('#stage video')]"
                               ".every(v => v.paused)")  # fmt: skip
        page.click("#play")
        wait_until_all_videos_play(page, past=0.0)

        # Keys and clicks label; the next query (preloaded) follows at once.
        page.keyboard.press("ArrowLeft")
        wait_for_query(page, 2)
        assert labels_of(run, "ann") == [(1, "a")]
        assert "saved" in page.inner_text("#status")
        wait_until_all_videos_play(page, past=0.05)  # the preloaded query plays too
        page.click("button[data-label='b']")
        wait_for_query(page, 3)
        assert labels_of(run, "ann") == [(1, "a"), (2, "b")]

        # Undo deletes the last label and shows its query again.
        page.keyboard.press("u")
        wait_for_query(page, 2)
        page.wait_for_function("() => document.querySelector('#status').textContent"
                               ".startsWith('undone')")  # fmt: skip
        assert labels_of(run, "ann") == [(1, "a")]
        page.keyboard.press("=")
        wait_for_query(page, 3)
        page.keyboard.press("ArrowDown")
        wait_for_query(page, 4)
        page.keyboard.press("s")
        wait_for_query(page, 5)
        page.keyboard.press("ArrowRight")
        page.wait_for_selector("#waiting", timeout=20_000)
        assert labels_of(run, "ann") == [(1, "a"), (2, "equal"), (3, "equal"), (4, "skip"),
                                         (5, "b")]  # fmt: skip
        with LabelStore(run.labels) as store:
            counts = store.counts()
            assert {r.source for r in store.labels()} == {"ui"}
        page.wait_for_function(
            "n => document.querySelector('#n-labelled').textContent === String(n)",
            arg=counts.labelled,
        )
        # The skipped query stays open for other annotators (a skip is not a label).
        assert page.inner_text("#n-queued") == str(counts.queued) == "1"

        # Live with training: a query the trainer adds now appears without a reload.
        with LabelStore(run.labels) as store:
            (new,) = store.add_queries([(("ep_unused", 0, 1), ("ep_unused2", 0, 1), "uniform")])
        wait_for_query(page, new)
        assert "not in" in page.inner_text(f"#stage .pair[data-query-id='{new}']")
        page.keyboard.press(" ")  # a query whose episodes are gone can still be skipped
        page.wait_for_selector("#waiting", timeout=20_000)
        assert labels_of(run, "ann")[-1] == (new, "skip")

        # The annotator's name is remembered across reloads. Another annotator gets the
        # query "ann" skipped (4): done queries (k = 1 label) are not served again.
        page.fill("#annotator", "bob")
        page.press("#annotator", "Enter")
        wait_for_query(page, 4)
        page.reload()
        page.wait_for_selector(VIDEOS)
        assert page.input_value("#annotator") == "bob"
        assert shown_query(page) == 4
        page.keyboard.press("ArrowRight")
        wait_for_query(page, new)
        assert labels_of(run, "bob") == [(4, "b")]
        assert errors == []
        context.close()


def test_the_printed_url_with_a_token_works_in_chromium(browser, tmp_path):
    # The page, its API calls and its videos all authenticate with the cookie the printed
    # URL sets; the token then leaves the address bar.
    episodes = [synthetic_episode("ep0", seed=0), synthetic_episode("ep1", seed=1)]
    run = make_run(tmp_path / "run", episodes, pairs(2))
    token = "browser-token-0123456789"
    with thread_server(UIConfig(run.root, token=token, annotator="tok")) as url:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{url}/?token={token}")
        assert page.url == f"{url}/"
        wait_until_all_videos_play(page, past=0.05)
        page.keyboard.press("ArrowLeft")
        wait_for_query(page, 2)
        assert labels_of(run, "tok") == [(1, "a")]
        other = browser.new_context().new_page()  # no cookie: nothing but the 401
        response = other.goto(f"{url}/")
        assert response.status == 401 and "access token" in other.content()
        context.close()
        other.context.close()
