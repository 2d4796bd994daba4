"""Unknown names list the valid ones; bad options are refused with the bad value."""

import pytest

import sim


def test_unknown_task_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown task 'panda-fly'.*panda-push"):
        sim.make("panda-fly")


def test_unknown_backend_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown backend 'gazebo'.*bullet.*mujoco"):
        sim.make("panda-reach", backend="gazebo")


def test_unknown_camera_lists_valid_ones():
    with pytest.raises(ValueError, match=r"bad cameras \['top'\].*front.*side.*wrist"):
        sim.make("panda-reach", cameras=("top",))


def test_unknown_expert_lists_valid_ones():
    with pytest.raises(ValueError, match=r"no scripted expert for 'dmc:walker-walk'.*panda-lift"):
        sim.expert("dmc:walker-walk")


@pytest.mark.parametrize(
    "options, match",
    [
        ({"state": "pixels"}, "unknown state mode 'pixels'"),
        ({"image_size": 4}, "image_size must be within"),
        ({"max_steps": 0}, "max_steps must be >= 1"),
        ({"randomize": {"gravity": 1}}, r"unknown randomization options \['gravity'\]"),
        ({"randomize": {"object_mass": (2.0, 1.0)}}, "object_mass must be a range"),
        ({"render_mode": "human"}, "unknown render_mode"),
    ],
)
def test_bad_env_options(options, match):
    with pytest.raises(ValueError, match=match):
        sim.make("panda-reach", **options)


def test_dmc_on_bullet_is_refused():
    with pytest.raises(ValueError, match="mujoco"):
        sim.make("dmc:walker-walk", backend="bullet")


def test_step_before_reset():
    env = sim.make("panda-reach", cameras=())
    try:
        with pytest.raises(RuntimeError, match="reset"):
            env.step([0, 0, 0, 0])
    finally:
        env.close()


def test_describe_task_names_the_instruction_or_lists_the_tasks():
    push = "Push the red cube onto the green marker on the table."
    assert sim.describe_task("panda-push") == push
    assert sim.describe_task("dmc:walker-walk") == ""  # dm_control tasks carry none
    with pytest.raises(ValueError, match=r"unknown task 'panda-fly'; valid: \[.*'panda-reach'"):
        sim.describe_task("panda-fly")
