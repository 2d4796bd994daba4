"""The ROS 2 launch files (``launch/*.launch.py``) and their parameter files, without ROS 2.

ROS 2's ``launch`` and ``launch_ros`` cannot be installed here (DESIGN.md, "ROS 2 without
ROS 2"), so the launch files are checked in two ways:

* statically, with :mod:`ast`: the files hold wiring only, every argument is declared with a
  description and a default, used, and every ``LaunchConfiguration`` names a declared one;
* semantically, through a small fake of the part of the launch API they use (same names
  and keyword arguments as launch / launch_ros, which reject unknown ones as these do):
  ``generate_launch_description()`` runs, a tiny interpreter resolves its arguments the way
  ``ros2 launch`` does (defaults, ``name:=value`` overrides, choices, typed parameter
  values), and what comes out is checked against the code it starts: command lines are
  parsed by the programs' own argument parsers, node parameters compared with those
  ``hardware/ros/rclpy_node.py`` declares, robot names with the robot registry, tasks and cameras
  with ``sim``.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from hardware.robots import get_robot, list_robots

REPO = Path(__file__).resolve().parents[2]
LAUNCH_DIR = REPO / "launch"
CONFIG_DIR = LAUNCH_DIR / "config"
ROS_NODE = REPO / "hardware" / "ros" / "rclpy_node.py"
LAUNCH_FILES = ("deploy.launch.py", "sim_robot.launch.py")
EXAMPLE_ROBOT_FILES = ("franka_panda.yaml", "ur5e.yaml", "xarm6.yaml")

#: Parameters every rclpy node declares itself (rclpy's TimeSource), with their defaults.
RCLPY_PARAMETERS = {"use_sim_time": False}
#: Parameters deploy.launch.py passes that hardware/ros/rclpy_node.py does not declare yet (rclpy
#: ignores an undeclared override silently, so each is listed here on purpose, with the
#: default the launch file gives it). Remove an entry once the node declares it.
PENDING_NODE_PARAMETERS: dict[str, Any] = {}
#: Modules the launch files may import from.
LAUNCH_API_MODULES = (
    "launch",
    "launch.actions",
    "launch.substitutions",
    "launch_ros.actions",
    "launch_ros.parameter_descriptions",
)


# --- what hardware/ros/rclpy_node.py declares -----------------------------------------------------
def node_parameters() -> dict[str, Any]:
    """``{name: default}`` of the parameters the bridge node declares, read from its source.

    Finds ``declare_parameter("name", default)`` calls and the ``for k, v in p.items()``
    pattern over a dict literal ``p`` that ``hardware/ros/rclpy_node.py`` uses.
    """
    tree = ast.parse(ROS_NODE.read_text(encoding="utf-8"))
    literals: dict[str, dict] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Dict)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            try:
                literals[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    declared: dict[str, Any] = {}

    def declares(tree_node) -> bool:
        return any(
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr == "declare_parameter"
            for n in ast.walk(tree_node)
        )

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "declare_parameter":
            if node.args and isinstance(node.args[0], ast.Constant):
                default = ast.literal_eval(node.args[1]) if len(node.args) > 1 else None
                declared[node.args[0].value] = default
        loops = node.generators if isinstance(node, ast.DictComp | ast.ListComp) else []
        if isinstance(node, ast.For):
            loops = [node]
        for loop in loops:
            it = loop.iter
            if (
                declares(node)
                and isinstance(it, ast.Call)
                and isinstance(it.func, ast.Attribute)
                and it.func.attr == "items"
                and isinstance(it.func.value, ast.Name)
                and it.func.value.id in literals
            ):
                declared.update(literals[it.func.value.id])
    assert declared, f"found no declare_parameter in {ROS_NODE}; update node_parameters()"
    return declared


NODE_PARAMETERS = node_parameters()


def same_type(value, default) -> bool:
    """Whether rclpy accepts ``value`` for a parameter declared with ``default``."""
    return type(value) is type(default)


# --- a fake of the launch / launch_ros API -----------------------------------------------------
class Sub:
    """A substitution: resolved to a string by :func:`perform`."""


class LaunchConfiguration(Sub):
    def __init__(self, variable_name, *, default=None):
        self.name, self.default = variable_name, default

    def perform(self, ctx: Context) -> str:
        if self.name in ctx.configs:
            return ctx.configs[self.name]
        if self.default is None:
            raise LookupError(f"launch configuration {self.name!r} is not declared or given")
        return perform(self.default, ctx)


class EnvironmentVariable(Sub):
    def __init__(self, name, *, default_value=None):
        self.name, self.default = name, default_value

    def perform(self, ctx: Context) -> str:
        if self.name in ctx.env:
            return ctx.env[self.name]
        if self.default is None:
            raise LookupError(f"environment variable {self.name!r} is not set")
        return perform(self.default, ctx)


class ThisLaunchFileDir(Sub):
    def perform(self, ctx: Context) -> str:
        return str(ctx.launch_file.parent)


class PathJoinSubstitution(Sub):
    def __init__(self, substitutions):
        self.parts = list(substitutions)

    def perform(self, ctx: Context) -> str:
        return str(Path(*(perform(p, ctx) for p in self.parts)))


class Action:
    """An action recording its keyword arguments (launch's ``Action`` takes ``condition``)."""

    def __init__(self, *, condition=None):
        assert condition is None, "the fake does not evaluate conditions"


class DeclareLaunchArgument(Action):
    def __init__(self, name, *, default_value=None, description=None, choices=None, **kwargs):
        super().__init__(**kwargs)
        if choices is not None:
            if not choices:
                raise RuntimeError("Provided choices arg is empty")
            if isinstance(default_value, str) and default_value not in choices:
                raise RuntimeError(f"default {default_value!r} not in choices {choices}")
        self.name, self.default_value = name, default_value
        self.description, self.choices = description, choices


class SetEnvironmentVariable(Action):
    def __init__(self, name, value, **kwargs):
        super().__init__(**kwargs)
        self.name, self.value = name, value


class Shutdown(Action):
    def __init__(self, *, reason="reason not given", **kwargs):
        super().__init__(**kwargs)
        self.reason = reason


class ExecuteProcess(Action):
    def __init__(
        self,
        *,
        cmd,
        prefix=None,
        name=None,
        cwd=None,
        env=None,
        additional_env=None,
        shell=False,
        sigterm_timeout=None,
        sigkill_timeout=None,
        emulate_tty=False,
        output="log",
        output_format=None,
        cached_output=False,
        log_cmd=False,
        on_exit=None,
        respawn=False,
        respawn_delay=None,
        respawn_max_retries=-1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.cmd, self.name, self.output, self.on_exit = list(cmd), name, output, on_exit
        self.additional_env = additional_env or {}


class Node(ExecuteProcess):
    """launch_ros's Node: ``cmd`` is ``[executable, *arguments]`` without a package."""

    def __init__(
        self,
        *,
        executable,
        package=None,
        name=None,
        namespace=None,
        exec_name=None,
        parameters=None,
        remappings=None,
        ros_arguments=None,
        arguments=None,
        **kwargs,
    ):
        assert package is None, "robopref is no ament package: run the module by path"
        super().__init__(cmd=[executable, *(arguments or [])], name=exec_name, **kwargs)
        self.node_name, self.namespace = name, namespace
        self.parameters, self.remappings = list(parameters or []), remappings


class ParameterValue:
    def __init__(self, value, *, value_type=None):
        self.value, self.value_type = value, value_type


class LaunchDescription:
    def __init__(self, initial_entities=None, *, deprecated_reason=None):
        self.entities = list(initial_entities or [])


def fake_modules() -> dict[str, types.ModuleType]:
    """The fake API as the modules the launch files import from."""
    spec = {
        "launch": {"LaunchDescription": LaunchDescription},
        "launch.actions": {
            c.__name__: c
            for c in (DeclareLaunchArgument, ExecuteProcess, SetEnvironmentVariable, Shutdown)
        },
        "launch.substitutions": {
            c.__name__: c
            for c in (
                LaunchConfiguration,
                EnvironmentVariable,
                PathJoinSubstitution,
                ThisLaunchFileDir,
            )
        },
        "launch_ros": {},
        "launch_ros.actions": {"Node": Node},
        "launch_ros.parameter_descriptions": {"ParameterValue": ParameterValue},
    }
    modules = {}
    for name, attrs in spec.items():
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        modules[name] = m
    for name, m in modules.items():
        if "." in name:
            parent, _, child = name.rpartition(".")
            setattr(modules[parent], child, m)
    return modules


# --- the interpreter ---------------------------------------------------------------------------
@dataclass
class Context:
    launch_file: Path
    configs: dict[str, str]
    env: dict[str, str]


@dataclass
class Process:
    """A process the launch would start, with everything resolved."""

    action: ExecuteProcess
    cmd: list[str]
    env: dict[str, str]
    node_name: str | None = None
    namespace: str | None = None
    param_files: list[Path] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Launched:
    arguments: dict[str, DeclareLaunchArgument]
    configs: dict[str, str]
    processes: list[Process]

    def one(self, kind: type) -> Process:
        found = [p for p in self.processes if type(p.action) is kind]
        assert len(found) == 1, f"expected one {kind.__name__}, got {len(found)}"
        return found[0]


def perform(value, ctx: Context) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Sub):
        return value.perform(ctx)
    if isinstance(value, list | tuple):
        return "".join(perform(v, ctx) for v in value)
    raise TypeError(f"not a substitution: {value!r}")


def coerce(text: str, value_type):
    """launch's ``coerce_to_type`` for the scalar types."""
    if value_type is None:
        return yaml.safe_load(text) if text else ""
    if value_type is str:
        return text
    if value_type in (int, float):
        return value_type(text)
    if value_type is bool:
        value = yaml.safe_load({"1": "true", "0": "false"}.get(text, text))
        if not isinstance(value, bool):
            raise ValueError(f"{text!r} is not a bool")
        return value
    raise ValueError(f"value_type {value_type!r}")


def evaluate(value, ctx: Context):
    if isinstance(value, ParameterValue):
        return coerce(perform(value.value, ctx), value.value_type)
    if isinstance(value, bool | int | float):
        return value
    return coerce(perform(value, ctx), None)


def load_launch_file(name: str) -> LaunchDescription:
    path = LAUNCH_DIR / name
    spec = importlib.util.spec_from_file_location(f"_launch_{path.stem.replace('.', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    assert isinstance(description, LaunchDescription)
    return description


def launch(name: str, env: dict[str, str] | None = None, **overrides: str) -> Launched:
    """What ``ros2 launch launch/<name> key:=value ...`` would start."""
    path = LAUNCH_DIR / name
    description = load_launch_file(name)
    ctx = Context(path, dict(overrides), dict(env or {}))
    arguments, processes = {}, []
    for entity in description.entities:
        if isinstance(entity, DeclareLaunchArgument):
            arguments[entity.name] = entity
            if entity.name not in ctx.configs:
                if entity.default_value is None:
                    raise RuntimeError(f"required argument {entity.name!r} not given")
                ctx.configs[entity.name] = perform(entity.default_value, ctx)
            value = ctx.configs[entity.name]
            if entity.choices is not None and value not in entity.choices:
                raise RuntimeError(f"argument {entity.name!r}: {value!r} not in {entity.choices}")
        elif isinstance(entity, SetEnvironmentVariable):
            ctx.env[perform(entity.name, ctx)] = perform(entity.value, ctx)
        elif isinstance(entity, ExecuteProcess):
            env = dict(ctx.env)
            env.update({perform(k, ctx): perform(v, ctx) for k, v in entity.additional_env.items()})
            proc = Process(entity, [perform(c, ctx) for c in entity.cmd], env)
            if isinstance(entity, Node):
                if entity.node_name is not None:
                    proc.node_name = perform(entity.node_name, ctx)
                if entity.namespace is not None:
                    proc.namespace = perform(entity.namespace, ctx)
                for item in entity.parameters:
                    if isinstance(item, dict):
                        proc.params.update({k: evaluate(v, ctx) for k, v in item.items()})
                    else:
                        proc.param_files.append(Path(perform(item, ctx)))
            processes.append(proc)
        else:
            raise TypeError(f"the fake interpreter does not know {entity!r}")
    unknown = set(overrides) - set(arguments)
    assert not unknown, f"not arguments of {name}: {unknown}"
    return Launched(arguments, ctx.configs, processes)


@pytest.fixture(autouse=True)
def fake_launch_api(monkeypatch):
    for name, module in fake_modules().items():
        monkeypatch.setitem(sys.modules, name, module)


# --- static checks -----------------------------------------------------------------------------
def parse(name: str) -> ast.Module:
    return ast.parse((LAUNCH_DIR / name).read_text(encoding="utf-8"))


def calls(tree: ast.AST, func: str) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == func
    ]


def declared_arguments(tree: ast.AST) -> dict[str, ast.Call]:
    out = {}
    for call in calls(tree, "DeclareLaunchArgument"):
        assert call.args and isinstance(call.args[0], ast.Constant), ast.unparse(call)
        name = call.args[0].value
        assert name not in out, f"argument {name!r} declared twice"
        out[name] = call
    return out


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_launch_file_is_wiring_only(name):
    tree = parse(name)
    assert ast.get_docstring(tree), f"{name} needs a docstring saying what it starts"
    functions = []
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom):
            assert stmt.module in LAUNCH_API_MODULES, f"{name} imports {stmt.module}"
        elif isinstance(stmt, ast.Assign):
            ast.literal_eval(stmt.value)  # module constants are literals
        elif isinstance(stmt, ast.FunctionDef):
            functions.append(stmt)
        else:
            assert isinstance(stmt, ast.Expr) and stmt is tree.body[0], ast.unparse(stmt)
    assert [f.name for f in functions] == ["generate_launch_description"]
    fn = functions[0]
    assert not (fn.args.args or fn.args.posonlyargs or fn.args.kwonlyargs), "takes no arguments"
    logic = (ast.If, ast.IfExp, ast.For, ast.While, ast.Try, ast.With, ast.Lambda)
    logic += (ast.comprehension, ast.Await, ast.Yield, ast.Global, ast.Import, ast.ImportFrom)
    found = [ast.unparse(n) for n in ast.walk(fn) if isinstance(n, logic)]
    assert not found, f"{name} holds logic: {found}"
    assert not calls(tree, "OpaqueFunction") and not calls(tree, "PythonExpression")


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_every_argument_is_described_defaulted_and_used(name):
    tree = parse(name)
    declared = declared_arguments(tree)
    assert declared
    for arg, call in declared.items():
        kw = {k.arg: k.value for k in call.keywords}
        desc = kw.get("description")
        assert isinstance(desc, ast.Constant) and isinstance(desc.value, str), arg
        assert len(desc.value.split()) >= 4, f"{name}: {arg!r} description too terse"
        assert "default_value" in kw, f"{name}: {arg!r} has no default"
    configs = calls(tree, "LaunchConfiguration")
    for c in configs:
        assert c.args and isinstance(c.args[0], ast.Constant), f"not a literal: {ast.unparse(c)}"
    used = {c.args[0].value for c in configs}
    assert used <= set(declared), f"{name}: undeclared {sorted(used - set(declared))}"
    assert set(declared) <= used, f"{name}: declared, never used {sorted(set(declared) - used)}"


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_modules_run_with_python_m_exist_and_have_a_main(name):
    tree = parse(name)
    lists = [n for n in ast.walk(tree) if isinstance(n, ast.List)]
    modules = []
    for lst in lists:
        items = lst.elts
        for a, b in zip(items, items[1:]):
            if isinstance(a, ast.Constant) and a.value == "-m":
                assert isinstance(b, ast.Constant), ast.unparse(lst)
                modules.append(b.value)
    assert modules
    for mod in modules:
        spec = importlib.util.find_spec(mod)
        assert spec is not None and spec.origin, f"{name}: no module {mod}"
        src = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        assert any(isinstance(s, ast.FunctionDef) and s.name == "main" for s in src.body), mod
        assert "__main__" in ast.unparse(src.body[-1]), f"{mod} has no __main__ guard"


# --- deploy.launch.py --------------------------------------------------------------------------
def test_deploy_defaults_start_the_bridge_node_with_declared_parameters():
    out = launch("deploy.launch.py")
    (proc,) = out.processes
    assert isinstance(proc.action, Node)
    assert proc.cmd == ["python3", "-m", "hardware.ros.rclpy_node"]
    assert proc.node_name == "robopref_bridge" and proc.namespace == ""
    assert proc.param_files == [CONFIG_DIR / "bridge.yaml"]
    assert proc.param_files[0].is_file()
    known = {**NODE_PARAMETERS, **RCLPY_PARAMETERS, **PENDING_NODE_PARAMETERS}
    assert set(proc.params) <= set(known), f"undeclared: {set(proc.params) - set(known)}"
    for key, value in proc.params.items():
        assert same_type(value, known[key]), f"{key}={value!r}, declared as {known[key]!r}"
    # Launched with its defaults, the node gets its own defaults but for the robot choice.
    for key, value in proc.params.items():
        assert value == known[key], key
    assert get_robot(proc.params["robot"]).kinematics is not None
    assert proc.action.output == "screen"


def test_deploy_arguments_reach_the_node_typed():
    out = launch(
        "deploy.launch.py",
        robot="ur5e_forward_position",
        policy="reach",
        policy_kwargs='{"goal": [0.5, 0.0, 0.3]}',
        reward="runs/x/reward.rpe",
        params_file="launch/config/ur5e.yaml",
        control_hz="10",
        record_dir="runs/real/episodes",
        use_sim_time="true",
        namespace="arm_left",
        python="/opt/robopref/.venv/bin/python",
    )
    (proc,) = out.processes
    assert proc.cmd[0] == "/opt/robopref/.venv/bin/python"
    assert proc.namespace == "arm_left"
    assert proc.param_files == [Path("launch/config/ur5e.yaml")]
    p = proc.params
    assert p["robot"] == "ur5e_forward_position" and p["policy"] == "reach"
    assert json.loads(p["policy_kwargs"]) == {"goal": [0.5, 0.0, 0.3]}
    assert p["reward"] == "runs/x/reward.rpe"
    assert p["control_hz"] == 10.0 and isinstance(p["control_hz"], float)  # DOUBLE, not INTEGER
    assert p["episode_dir"] == "runs/real/episodes"
    assert p["use_sim_time"] is True
    assert p["run"] == ""  # no run unless given: the policy argument applies


def test_deploy_run_argument_reaches_the_node_and_is_declared_there():
    assert NODE_PARAMETERS["run"] == ""
    arg = launch("deploy.launch.py").arguments["run"]
    assert arg.default_value == "" and "checkpoint" in arg.description
    (proc,) = launch("deploy.launch.py", robot="ur5e", run="runs/ur5e-reach").processes
    assert proc.params["run"] == "runs/ur5e-reach" and proc.params["robot"] == "ur5e"
    assert proc.params["policy"] == NODE_PARAMETERS["policy"]  # left to the run


def test_the_node_hands_run_to_the_shared_policy_chooser():
    # The node cannot run here (no rclpy); check in its source that its parameters become a
    # hardware.ros.launch_config.LaunchConfig, the one the command line's flags also become,
    # whose load_policy hands run to hardware.policies.run.choose_policy (which
    # tests/hardware/test_hw_run_policy.py runs through --run).
    from hardware.ros.launch_config import LaunchConfig

    tree = ast.parse(ROS_NODE.read_text(encoding="utf-8"))
    called = {ast.unparse(c.func) for c in ast.walk(tree) if isinstance(c, ast.Call) and c.args}
    assert "LaunchConfig.from_node_parameters" in called and "launch.load_policy" in called
    params = dict(NODE_PARAMETERS, run="runs/ur5e-reach")
    launch_config = LaunchConfig.from_node_parameters(params)
    assert launch_config.run == "runs/ur5e-reach" and launch_config.policy is None
    source = Path(LaunchConfig.load_policy.__code__.co_filename).read_text(encoding="utf-8")
    (call,) = [
        c
        for c in ast.walk(ast.parse(source))
        if isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id == "choose_policy"
    ]
    kw = {k.arg: ast.unparse(k.value) for k in call.keywords}
    assert kw["run"] == "self.run" and kw["policy"] == "self.policy"


def test_deploy_robot_choices_are_the_registered_robots():
    arg = launch("deploy.launch.py").arguments["robot"]
    assert sorted(arg.choices) == list_robots()
    for robot in arg.choices:
        (proc,) = launch("deploy.launch.py", robot=robot).processes
        assert proc.params["robot"] == robot
    with pytest.raises(RuntimeError, match="not in"):
        launch("deploy.launch.py", robot="kuka")
    with pytest.raises(RuntimeError, match="not in"):
        launch("deploy.launch.py", use_sim_time="yes")


def test_deploy_control_rate_defaults_to_the_simulators():
    from sim.backends.base import CONTROL_HZ

    (proc,) = launch("deploy.launch.py").processes
    assert proc.params["control_hz"] == CONTROL_HZ == NODE_PARAMETERS["control_hz"]


def test_every_node_parameter_is_reachable_from_deploy():
    (proc,) = launch("deploy.launch.py").processes
    from_file = params_of(CONFIG_DIR / "bridge.yaml")
    missing = set(NODE_PARAMETERS) - set(proc.params) - set(from_file)
    assert not missing, f"node parameters neither an argument nor in bridge.yaml: {missing}"


def test_pending_node_parameters_are_still_missing_from_the_node():
    now_declared = set(PENDING_NODE_PARAMETERS) & set(NODE_PARAMETERS)
    assert not now_declared, (
        f"hardware/ros/rclpy_node.py now declares {now_declared}: drop them from "
        "PENDING_NODE_PARAMETERS (and check their defaults match the launch file's)"
    )


# --- sim_robot.launch.py -----------------------------------------------------------------------
def sim_args(proc: Process):
    from hardware.standin.sim_robot import build_parser

    assert proc.cmd[1:3] == ["-m", "hardware.standin.sim_robot"]
    return build_parser().parse_args(proc.cmd[3:])


def test_sim_robot_launch_runs_the_stand_in_and_the_bridge_on_one_robot():
    import sim
    from sim.scene import CAMERA_NAMES

    out = launch("sim_robot.launch.py", env={"ROS_DOMAIN_ID": "7"})
    stand_in, bridge = out.one(ExecuteProcess), out.one(Node)
    args = sim_args(stand_in)  # argparse exits on a malformed command line
    assert args.task in sim.list_tasks(include_dmc=False)
    assert args.robot == bridge.params["robot"] == "panda_mujoco"
    assert args.task == bridge.params["task"]
    cams = args.cameras.split(",")
    assert cams and set(cams) <= set(CAMERA_NAMES)
    assert set(cams) <= {c.name for c in get_robot(args.robot).cameras}
    assert bridge.params["cameras"] == args.cameras  # the frames sent are the ones awaited
    assert args.domain_id == 7
    assert stand_in.env["ROS_DOMAIN_ID"] == bridge.env["ROS_DOMAIN_ID"] == "7"
    assert bridge.env["RMW_IMPLEMENTATION"] == "rmw_cyclonedds_cpp"
    assert bridge.cmd == ["python3", "-m", "hardware.ros.rclpy_node"]
    assert bridge.node_name == "robopref_bridge"
    for key, value in bridge.params.items():
        assert key in NODE_PARAMETERS, f"{key} is not declared by hardware/ros/rclpy_node.py"
        assert same_type(value, NODE_PARAMETERS[key]), key
    assert bridge.params["control_hz"] == NODE_PARAMETERS["control_hz"]
    for proc in (stand_in, bridge):
        assert isinstance(proc.action.on_exit, Shutdown)  # one side alone is useless


def test_sim_robot_launch_domain_defaults_to_zero_without_ros_domain_id():
    out = launch("sim_robot.launch.py", env={})
    assert sim_args(out.one(ExecuteProcess)).domain_id == 0
    assert out.one(Node).env["ROS_DOMAIN_ID"] == "0"


def test_sim_robot_launch_overrides_reach_both_processes():
    out = launch(
        "sim_robot.launch.py",
        task="panda-push",
        robot="franka_panda",
        policy="reach",
        policy_kwargs='{"goal": [0.5, 0.0, 0.3]}',
        cameras="front",
        seed="3",
        domain_id="12",
        control_hz="10",
        max_steps="150",
        state_rate="200",
        camera_rate="10",
        run="runs/panda-push",
    )
    args, bridge = sim_args(out.one(ExecuteProcess)), out.one(Node).params
    expected = ("panda-push", "franka_panda", "front")
    assert (args.task, args.robot, args.cameras) == expected and args.seed == 3
    assert (args.state_rate, args.camera_rate, args.domain_id) == (200.0, 10.0, 12)
    assert (bridge["task"], bridge["robot"], bridge["cameras"]) == expected
    assert bridge["control_hz"] == 10.0 and bridge["max_steps"] == 150
    assert json.loads(bridge["policy_kwargs"]) == {"goal": [0.5, 0.0, 0.3]}
    assert bridge["run"] == "runs/panda-push"


def test_sim_robot_launch_choices_are_tasks_and_panda_robots():
    import sim

    args = launch("sim_robot.launch.py").arguments
    assert sorted(args["task"].choices) == sorted(sim.list_tasks(include_dmc=False))
    for robot in args["robot"].choices:
        # SimRobot models the Panda only; it refuses any other robot config.
        assert get_robot(robot).kinematics == "panda", robot
    with pytest.raises(RuntimeError, match="not in"):
        launch("sim_robot.launch.py", robot="ur5e")


# --- parameter files -------------------------------------------------------------------------
def params_of(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and data, path
    out = {}
    for key, body in data.items():
        assert key in ("/**", "robopref_bridge", "/robopref_bridge"), f"{path}: node key {key}"
        assert set(body) == {"ros__parameters"}, f"{path}: {set(body)}"
        out.update(body["ros__parameters"])
    return out


def param_files() -> list[Path]:
    files = sorted(CONFIG_DIR.glob("*.yaml"))
    assert {"bridge.yaml", *EXAMPLE_ROBOT_FILES} <= {f.name for f in files}
    return files


@pytest.mark.parametrize("path", param_files(), ids=lambda p: p.name)
def test_param_files_set_declared_parameters_the_arguments_do_not_override(path):
    params = params_of(path)
    (proc,) = launch("deploy.launch.py", params_file=str(path)).processes
    assert proc.param_files == [path]
    for key, value in params.items():
        assert key in NODE_PARAMETERS, f"{path.name}: {key} is not declared by the node"
        assert same_type(value, NODE_PARAMETERS[key]), f"{path.name}: {key}={value!r}"
        assert key not in proc.params, f"{path.name}: {key} is always overridden by an argument"


def test_default_param_file_spells_out_the_node_defaults():
    for key, value in params_of(CONFIG_DIR / "bridge.yaml").items():
        assert value == NODE_PARAMETERS[key], key


@pytest.mark.parametrize("file", EXAMPLE_ROBOT_FILES)
def test_example_robot_files_fit_their_robot(file):
    robot = get_robot(Path(file).stem)
    assert robot.name in launch("deploy.launch.py").arguments["robot"].choices
    params = params_of(CONFIG_DIR / file)
    # An example rig file spells out what differs per rig; a missing key would silently
    # fall back to the node's defaults (all cameras, no time limit, task "unspecified").
    assert {"task", "cameras", "max_steps"} <= set(params), f"{file}: {sorted(params)}"
    cams = params["cameras"].split(",")
    assert cams and all(cams), f"{file}: cameras {params['cameras']!r}"
    assert len(set(cams)) == len(cams), f"{file}: a camera listed twice"
    assert set(cams) <= {c.name for c in robot.cameras}, f"{file}: cameras {cams}"
    steps = params["max_steps"]
    assert isinstance(steps, int) and not isinstance(steps, bool) and steps > 0, steps
    task = params["task"]
    assert isinstance(task, str) and task.strip() == task and task not in ("", "unspecified")
