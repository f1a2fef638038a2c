"""The public policy registry: every policy and trainer the command line and the benchmark know.

Why a registry: this package must never import the agents' package (layers point one way), yet
``druginv benchmark`` plays agents and ``druginv train`` trains them. So every policy is an
*entry* that says how to build it for a :class:`~druginv_gym.benchmark.BenchmarkSpec`, how to
tune it first, its one-line help, and where it stands in the benchmark's default set; the
benchmark (:func:`~druginv_gym.benchmark.make_policy`, ``BenchmarkSpec`` validation), the
command line (choices, help) and the sweep read the entries and nothing else.

* :func:`register_policy`: a policy name, or a *family* that takes an argument after a colon
  (``agent:<shipped name or .pt path>``), with names that resolve to it
  (``druginv evaluate ppo-paper-70`` means ``agent:ppo-paper-70``).
* :func:`register_trainer`: ``druginv train <name>`` and the sweep's ``train:<name>``.
* :func:`register_training_curves`: validation curves for the benchmark's Fig. 4.

The hindsight optimum and the baselines are registered here. Other packages register theirs
through the entry-point group ``druginv_gym.policies`` (:data:`ENTRY_POINT_GROUP`), the way
pytest finds plugins: each entry point names a function without arguments that calls the
functions above. ``druginv_agents`` registers ``dqn``, ``ppo``, ``agent:<...>``, its trainers
and its curves that way (``druginv_agents.plugin``). Entry points are loaded once, on the first
question asked of the registry (never on ``import druginv_gym``); one that fails to load is
skipped, whatever it registered is undone, and a :class:`PluginWarning` names it.

Example::

    from druginv_gym import registry
    registry.register_policy("order-nothing", registry.rule(OrderNothing), help="never orders")
    registry.default_policies()        # ('hindsight-optimal', 'dqn', 'ppo', ...)
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from numbers import Real
from typing import TYPE_CHECKING, Any

from druginv_gym._table import NameTable

if TYPE_CHECKING:
    import gymnasium as gym
    import pandas as pd

    from druginv_gym.benchmark import BenchmarkSpec

__all__ = [
    "ENTRY_POINT_GROUP",
    "KINDS",
    "NotApplicable",
    "PluginWarning",
    "PolicyEntry",
    "Trainer",
    "default_policies",
    "get_policy",
    "get_trainer",
    "load_plugins",
    "policies",
    "policy_names",
    "register_policy",
    "register_trainer",
    "register_training_curves",
    "resolve",
    "resolve_alias",
    "rule",
    "trainers",
    "training_curves",
    "unregister_policy",
    "unregister_trainer",
]

#: The entry-point group third-party packages register their policies in.
ENTRY_POINT_GROUP = "druginv_gym.policies"
#: What a policy is to the benchmark: the ``optimum`` (the lower bound), an ``agent`` (compared
#: against the baselines in ``summary.md``, its training curve drawn), or a ``baseline``.
KINDS = ("optimum", "agent", "baseline")

#: ``build(spec, params, argument) -> (env, policy, label)``: the env the policy plays on, the
#: policy (``reset()``, ``act(obs)``) and what it is, in a few words (a checkpoint's name, the
#: tuned levels), for ``summary.md`` and ``run.json``. ``params`` are the tuner's result
#: (empty without a tuner); ``argument`` is the text after the colon for a family, else None.
Factory = Callable[["BenchmarkSpec", Mapping[str, float], "str | None"], "tuple[gym.Env, Any, str]"]
#: ``tune(spec, progress) -> params``: parameters chosen on training seeds, before the run.
Tuner = Callable[["BenchmarkSpec", "bool | None"], "dict[str, float]"]


class NotApplicable(LookupError):
    """Raised by a policy's factory for a scenario it has nothing for (a forecast-informed
    agent where none is shipped): the benchmark leaves that policy out of the run without a
    note, as if it was not asked for. Any other error is a failure or, in ``skip_errors``, a
    skip with a note."""


class PluginWarning(UserWarning):
    """An entry point of :data:`ENTRY_POINT_GROUP` failed to load (it is skipped)."""


@dataclass(frozen=True)
class PolicyEntry:
    """One policy name (or family of names) the benchmark, the CLI and the sweep accept.

    Args:
        name: what users type (no colon); a family's members are ``<name>:<argument>``.
        build: the :data:`Factory`.
        help: one line for ``--help``.
        kind: one of :data:`KINDS`.
        default_order: its place in the benchmark's default set (sorted by it; built-ins:
            0 hindsight-optimal, 10 dqn, 20 ppo, 30 over-provisioning, 40 ski-rental,
            50 max-min, 60 base-stock, 70 (s,S)); None: played only when asked for. For
            baselines this set also chooses the baselines the agents are compared against.
        tune: the :data:`Tuner` (None: built with no parameters).
        takes_argument: a family (``agent:<...>``); not tunable, not in the default set.
        metavar: what a family's argument is, for messages (``'agent:<name or path>'``).
        aliases: the bare names that stand for ``<name>:<alias>`` on the command line
            (shipped agents); a function, asked when needed, because the list may change.
        accepts: other bare names the family takes (a checkpoint path), with
            ``accepts_help`` naming them in messages (``"a checkpoint path"``).
        skip_errors: exceptions that, raised while building it, make the benchmark skip it
            with a note instead of failing (an agent whose package is missing).
        sweep_refusal: why ``druginv sweep`` refuses this name (None: the sweep plays it).
        requires: what to install when building it raises ImportError
            (``"druginv-gym[torch]"``).
    """

    name: str
    build: Factory
    help: str
    kind: str = "baseline"
    default_order: float | None = None
    tune: Tuner | None = None
    takes_argument: bool = False
    metavar: str = "argument"
    aliases: Callable[[], Iterable[str]] | None = None
    accepts: Callable[[str], bool] | None = None
    accepts_help: str | None = None
    skip_errors: tuple[type[BaseException], ...] = ()
    sweep_refusal: str | None = None
    requires: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or ":" in self.name:
            raise ValueError(f"policy name = {self.name!r} must be a non-empty string without ':'")
        where = f"policy {self.name!r}"
        if not callable(self.build):
            raise ValueError(f"{where}: build = {self.build!r} is not callable")
        if not isinstance(self.help, str) or not self.help or "\n" in self.help:
            raise ValueError(f"{where}: help = {self.help!r} must be one non-empty line")
        if self.kind not in KINDS:
            raise ValueError(f"{where}: kind = {self.kind!r} must be one of {list(KINDS)}")
        if self.default_order is not None and (
            isinstance(self.default_order, bool) or not isinstance(self.default_order, Real)
        ):
            raise ValueError(f"{where}: default_order = {self.default_order!r} is not a number")
        for fn in ("tune", "aliases", "accepts"):
            value = getattr(self, fn)
            if value is not None and not callable(value):
                raise ValueError(f"{where}: {fn} = {value!r} is not callable")
        if not isinstance(self.takes_argument, bool):
            raise ValueError(f"{where}: takes_argument = {self.takes_argument!r} is not a bool")
        if self.takes_argument and (self.default_order is not None or self.tune is not None):
            raise ValueError(
                f"{where}: a family (takes_argument=True) is neither tuned nor in the default set"
            )
        if not self.takes_argument and (self.aliases or self.accepts):
            raise ValueError(f"{where}: aliases and accepts need takes_argument=True")
        if (self.accepts is None) != (self.accepts_help is None):
            raise ValueError(f"{where}: accepts and accepts_help go together")
        errors = self.skip_errors
        if not isinstance(errors, tuple) or not all(
            isinstance(e, type) and issubclass(e, BaseException) for e in errors
        ):
            raise ValueError(f"{where}: skip_errors = {errors!r} must be a tuple of exceptions")
        for text in ("metavar", "accepts_help", "sweep_refusal", "requires"):
            value = getattr(self, text)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{where}: {text} = {value!r} is not a string")

    def usage(self) -> str:
        """How to write it: ``max-min``, or ``agent:<name or path>`` for a family."""
        return f"{self.name}:<{self.metavar}>" if self.takes_argument else self.name

    def pattern(self) -> str:
        """:meth:`usage` quoted, for messages: ``'agent:<name or path>'``."""
        return f"'{self.usage()}'"

    def alias_names(self) -> list[str]:
        """The family's aliases now (none when its package cannot list them)."""
        if self.aliases is None:
            return []
        try:
            return [str(a) for a in self.aliases()]
        except ImportError:
            return []


#: ``train(cfg, logdir, resume, progress) -> policy``: trains from a configuration, writes
#: ``last.pt`` (resumable) and ``best.pt`` into ``logdir``, returns the best policy with
#: ``meta["best_eval_cost"]`` and ``meta["global_step"]``.
TrainFn = Callable[..., Any]


@dataclass(frozen=True)
class Trainer:
    """A training algorithm: ``druginv train <name>`` and the sweep's ``train:<name>``.

    Args:
        name: the algorithm's name (no colon).
        load: returns ``(config_class, train)``; called only when training, so that listing
            the trainers (``druginv --help``) never imports a deep-learning framework. The
            config class is a dataclass with (at least) ``env_kwargs``, ``seed`` and
            ``device`` fields, validated on construction.
        help: one line for ``--help``.
        plays: the policy family that plays its checkpoints (``agent``: ``agent:<best.pt>``).
        sweep_overrides: configuration fields of the sweep's short training runs.
        requires: what to install when ``load`` raises ImportError.
    """

    name: str
    load: Callable[[], tuple[type, TrainFn]]
    help: str
    plays: str = "agent"
    sweep_overrides: Mapping[str, Any] = field(default_factory=dict)
    requires: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or ":" in self.name:
            raise ValueError(f"trainer name = {self.name!r} must be a non-empty string without ':'")
        if not callable(self.load):
            raise ValueError(f"trainer {self.name!r}: load = {self.load!r} is not callable")
        if not isinstance(self.help, str) or not self.help or "\n" in self.help:
            raise ValueError(f"trainer {self.name!r}: help = {self.help!r} must be one line")
        if not isinstance(self.sweep_overrides, Mapping):
            raise ValueError(
                f"trainer {self.name!r}: sweep_overrides = {self.sweep_overrides!r} is not a "
                "mapping"
            )

    def resolve(self) -> tuple[type, TrainFn]:
        """``(config_class, train)``, imported now; ImportError when its package is missing."""
        config_cls, train = self.load()
        if not isinstance(config_cls, type) or not callable(train):
            raise ValueError(
                f"trainer {self.name!r}: load() gave {(config_cls, train)!r}, not "
                "(config class, train function)"
            )
        return config_cls, train


_lock = threading.RLock()
_policies: NameTable[PolicyEntry] = NameTable("policy")
_trainers: NameTable[Trainer] = NameTable("trainer")
_curves: list[Callable[[], pd.DataFrame | None]] = []
_plugins_loaded = False


def register_policy(
    name: str,
    build: Factory,
    *,
    help: str,
    kind: str = "baseline",
    default_order: float | None = None,
    tune: Tuner | None = None,
    takes_argument: bool = False,
    metavar: str = "argument",
    aliases: Callable[[], Iterable[str]] | None = None,
    accepts: Callable[[str], bool] | None = None,
    accepts_help: str | None = None,
    skip_errors: tuple[type[BaseException], ...] = (),
    sweep_refusal: str | None = None,
    requires: str | None = None,
    overwrite: bool = False,
) -> PolicyEntry:
    """Add a policy (see :class:`PolicyEntry` for the arguments) and return its entry.

    ``ValueError`` for a bad field, or a name already registered unless ``overwrite``
    (which keeps the name's place among the others).
    """
    entry = PolicyEntry(
        name=name,
        build=build,
        help=help,
        kind=kind,
        default_order=default_order,
        tune=tune,
        takes_argument=takes_argument,
        metavar=metavar,
        aliases=aliases,
        accepts=accepts,
        accepts_help=accepts_help,
        skip_errors=tuple(skip_errors),
        sweep_refusal=sweep_refusal,
        requires=requires,
    )
    return _policies.add(name, entry, overwrite=overwrite)


def unregister_policy(name: str) -> PolicyEntry:
    """Remove a policy and return its entry; ``ValueError`` listing the known ones."""
    load_plugins()
    return _policies.remove(name)


def register_trainer(
    name: str,
    load: Callable[[], tuple[type, TrainFn]],
    *,
    help: str,
    plays: str = "agent",
    sweep_overrides: Mapping[str, Any] | None = None,
    requires: str | None = None,
    overwrite: bool = False,
) -> Trainer:
    """Add a training algorithm (see :class:`Trainer`) and return it; ``ValueError`` for a bad
    field, or a name already registered unless ``overwrite``."""
    trainer = Trainer(
        name=name,
        load=load,
        help=help,
        plays=plays,
        sweep_overrides=dict(sweep_overrides or {}),
        requires=requires,
    )
    return _trainers.add(name, trainer, overwrite=overwrite)


def unregister_trainer(name: str) -> Trainer:
    """Remove a trainer and return it; ``ValueError`` listing the known ones."""
    load_plugins()
    return _trainers.remove(name)


def register_training_curves(provider: Callable[[], pd.DataFrame | None]) -> None:
    """Add a source of training curves for the benchmark's Fig. 4: ``provider()`` returns a
    table with columns ``agent`` (a policy's label, e.g. ``ppo-paper-70``), ``tag``
    (``eval_cost`` is drawn), ``step``, ``value`` and ``wall_s``, or None when it has none."""
    if not callable(provider):
        raise ValueError(f"provider = {provider!r} is not callable")
    with _lock:
        _curves.append(provider)


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def load_plugins() -> None:
    """Load the entry points of :data:`ENTRY_POINT_GROUP` (once per process; later calls do
    nothing). A plugin that raises is skipped with a :class:`PluginWarning` naming it, and
    what it had registered before failing is undone, so it never half-registers."""
    global _plugins_loaded
    with _lock:
        if _plugins_loaded:
            return
        _plugins_loaded = True
        start = _policies.snapshot()
        for ep in _entry_points():
            before = (_policies.snapshot(), _trainers.snapshot(), list(_curves))
            try:
                hook = ep.load()
                if not callable(hook):
                    raise TypeError(f"{ep.value} is not a function")
                hook()
            except Exception as exc:
                _policies.restore(before[0])
                _trainers.restore(before[1])
                _curves[:] = before[2]
                warnings.warn(
                    f"druginv_gym: the policy plugin {ep.name!r} ({ep.value}) of entry-point "
                    f"group {ENTRY_POINT_GROUP!r} failed to load and is skipped: "
                    f"{type(exc).__name__}: {exc}",
                    PluginWarning,
                    stacklevel=2,
                )
        # what the plugins registered, a fresh interpreter registers too
        _fresh.update({n: e for n, e in _policies.snapshot().items() if start.get(n) is not e})


def runtime_entries(names: Iterable[str]) -> dict[str, PolicyEntry]:
    """The entries of ``names`` that a fresh interpreter would not have: registered (or
    replaced) in Python after the built-ins and the plugins loaded. Worker processes (``druginv
    benchmark --jobs``) must be handed these; every other name they find themselves."""
    load_plugins()
    out = {}
    for name in names:
        entry = resolve(name)[0]
        if _fresh.get(entry.name) is not entry:
            out[entry.name] = entry
    return out


def add_entries(entries: Mapping[str, PolicyEntry]) -> None:
    """Register ``entries`` as they are, replacing a name's entry (what a worker process does
    with :func:`runtime_entries` of its parent)."""
    load_plugins()
    for name, entry in entries.items():
        _policies.add(name, entry, overwrite=True)


def policies() -> tuple[PolicyEntry, ...]:
    """Every entry, in registration order (built-ins first, then the plugins')."""
    load_plugins()
    return _policies.values()


def policy_names() -> tuple[str, ...]:
    """The names that are whole policies (not families), in registration order."""
    return tuple(e.name for e in policies() if not e.takes_argument)


def default_policies() -> tuple[str, ...]:
    """The benchmark's default set, in table order (``default_order``, then registration)."""
    chosen = [e for e in policies() if e.default_order is not None]
    return tuple(e.name for e in sorted(chosen, key=lambda e: e.default_order))


def get_policy(name: str) -> PolicyEntry:
    """The entry registered as ``name`` (a family by its bare name: ``"agent"``)."""
    load_plugins()
    try:
        return _policies[name]
    except (KeyError, TypeError):
        raise ValueError(_unknown(name)) from None


def _unknown(name: Any, bare: bool = False) -> str:
    """``unknown policy ...; choose from [...]``, listing every plain name (and with ``bare``
    the families' aliases) and each family's pattern."""
    families = [e for e in policies() if e.takes_argument]
    known = list(policy_names())
    if bare:
        known += [a for f in families for a in f.alias_names()]
        extra = [f.accepts_help for f in families if f.accepts_help]
    else:
        extra = [f.pattern() for f in families]
    return f"unknown policy {name!r}; choose from {known}" + "".join(f" or {x}" for x in extra)


def resolve(name: str) -> tuple[PolicyEntry, str | None]:
    """``(entry, argument)`` of a policy name: ``"max-min"`` -> (max-min, None),
    ``"agent:ppo-paper-70"`` -> (agent, "ppo-paper-70"). ``ValueError`` listing the known
    names for an unknown one, a family without its argument, or an argument to a plain name."""
    load_plugins()
    if not isinstance(name, str):
        raise ValueError(_unknown(name))
    if name in _policies:
        entry = _policies[name]
        if entry.takes_argument:
            raise ValueError(f"policy {name!r} needs an argument: {entry.pattern()}")
        return entry, None
    head, sep, arg = name.partition(":")
    entry = _policies.get(head) if sep else None
    if entry is None:
        raise ValueError(_unknown(name))
    if not entry.takes_argument:
        raise ValueError(f"policy {head!r} takes no argument (got {name!r})")
    if not arg:
        raise ValueError(f"policy {name!r} needs an argument: {entry.pattern()}")
    return entry, arg


def resolve_alias(name: str) -> str:
    """A command-line name as the benchmark spells it: a registered name stays, a family's
    alias or accepted bare name becomes ``<family>:<name>`` (``ppo-paper-70`` ->
    ``agent:ppo-paper-70``). ``ValueError`` listing the known names otherwise."""
    try:
        resolve(name)
        return name
    except ValueError:
        pass
    for family in (e for e in policies() if e.takes_argument):
        if name in family.alias_names() or (family.accepts is not None and family.accepts(name)):
            return f"{family.name}:{name}"
    raise ValueError(_unknown(name, bare=True))


def trainers() -> tuple[Trainer, ...]:
    """Every training algorithm, in registration order."""
    load_plugins()
    return _trainers.values()


def get_trainer(name: str) -> Trainer:
    """The trainer ``name``; ``ValueError`` listing the known ones."""
    load_plugins()
    if name not in _trainers:
        raise ValueError(f"unknown trainer {name!r}; choose from {list(_trainers)}")
    return _trainers[name]


def training_curves() -> pd.DataFrame | None:
    """Every provider's training curves in one table (None when no provider has any)."""
    load_plugins()
    frames = [f for f in (provider() for provider in list(_curves)) if f is not None]
    if not frames:
        return None
    if len(frames) == 1:
        return frames[0]
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def rule(factory: Callable[..., Any], env_id: str = "DrugRefill-v0") -> Factory:
    """The :data:`Factory` of a policy built as ``factory(env, **params)`` on the spec's
    scenario under ``env_id``: what a rule-based baseline needs. Its label lists the tuned
    parameters (``level=1.25``), or says ``defaults``."""
    if not callable(factory):
        raise ValueError(f"factory = {factory!r} is not callable")

    def build(
        spec: BenchmarkSpec, params: Mapping[str, float], argument: str | None
    ) -> tuple[gym.Env, Any, str]:
        env = spec.make_env(env_id)
        label = ", ".join(f"{k}={v:g}" for k, v in params.items()) or "defaults"
        return env, factory(env, **params), label

    build.__qualname__ = f"rule({getattr(factory, '__qualname__', factory)!s})"
    return build


# --- the built-ins: the hindsight optimum and the baselines ---------------------------------


def _optimum(
    spec: BenchmarkSpec, params: Mapping[str, float], argument: str | None
) -> tuple[gym.Env, Any, str]:
    env = spec.make_env()
    from druginv_gym.solvers import HindsightOracle

    return env, HindsightOracle(env), "Ipopt on the known trace"


def _baseline(class_name: str, **fixed: Any) -> Factory:
    """A :func:`rule` for a class of :mod:`druginv_gym.baselines`, imported when built, with
    the keyword arguments ``fixed`` (e.g. an earlier ``rule``, MPC's window), which the label
    lists before the tuned parameters."""

    def make(env: gym.Env, **params: float) -> Any:
        from druginv_gym import baselines

        return getattr(baselines, class_name)(env, **fixed, **params)

    make.__qualname__ = class_name
    build = rule(make)
    if not fixed:
        return build

    def labelled(
        spec: BenchmarkSpec, params: Mapping[str, float], argument: str | None
    ) -> tuple[gym.Env, Any, str]:
        env, policy, label = build(spec, params, argument)
        own = ", ".join(f"{k}={v}" for k, v in fixed.items())
        return env, policy, own if label == "defaults" else f"{own}, {label}"

    labelled.__qualname__ = build.__qualname__
    return labelled


def _tune_base_stock(spec: BenchmarkSpec, progress: bool | None) -> dict[str, float]:
    from druginv_gym.baselines import tune_base_stock

    base, _ = tune_base_stock(
        spec.make_env(held_out=False), n_episodes=spec.tune_episodes, progress=progress
    )
    return {"level": base.level}


def _tune_ss(spec: BenchmarkSpec, progress: bool | None) -> dict[str, float]:
    from druginv_gym.baselines import tune_ss

    ss, _ = tune_ss(spec.make_env(held_out=False), n_episodes=spec.tune_episodes, progress=progress)
    return {"s_level": ss.s_level, "S_level": ss.S_level}


#: The benchmark's MPC and stochastic program plan this many slots ahead, the stochastic
#: program over this many futures: on the default scenario (seeds 0-2) a window of 8 costs
#: less than the whole horizon (MPC +5.2 % above the optimum against +7.4 %) at a third of the
#: time, and 8 futures instead of 4 gain 0.2 points at 2.4 times the time
#: (benchmarks/RESULTS.md, "MPC and the stochastic program").
MPC_WINDOW = 8
SAA_SCENARIOS = 4

register_policy(
    "hindsight-optimal",
    _optimum,
    help="Ipopt on the known trace: the lower bound every cost is compared with",
    kind="optimum",
    default_order=0,
    requires="druginv-gym[solver]",
)
register_policy(
    "over-provisioning",
    _baseline("OverProvisioning"),
    help="refill every drug up to its upper bound C_hi each slot (the paper, section 5.2.2)",
    default_order=30,
)
register_policy(
    "ski-rental",
    _baseline("SkiRental"),
    help="online rent-or-buy: rent the slot's use, buy up to C_hi once renting has cost that",
    default_order=40,
)
register_policy(
    "max-min",
    _baseline("MaxMin"),
    help="below 45 % of C_hi, reorder the surplus between max (C_hi) and min (the paper)",
    default_order=50,
)
register_policy(
    "over-provisioning-cover",
    _baseline("OverProvisioning", rule="cover"),
    help="before 0.2: cover two slots of average demand with a 30 % margin",
)
register_policy(
    "ski-rental-band",
    _baseline("SkiRental", rule="band"),
    help="before 0.2: rent up to C_lo plus mean demand, buy up to C_hi plus mean demand",
)
register_policy(
    "max-min-up-to",
    _baseline("MaxMin", rule="up-to"),
    help="before 0.2: below 45 % of C_hi, refill up to C_hi",
)
register_policy(
    "base-stock",
    _baseline("BaseStock"),
    help="order up to C_lo plus a level of mean demands, tuned on training seeds",
    default_order=60,
    tune=_tune_base_stock,
)
register_policy(
    "(s,S)",
    _baseline("SS"),
    help="below s, order up to S (both tuned on training seeds)",
    default_order=70,
    tune=_tune_ss,
)
register_policy(
    "mpc",
    _baseline("MPC", window=MPC_WINDOW),
    help=f"rolling-horizon MPC: the QP of the next {MPC_WINDOW} slots on a moving-average "
    "forecast, re-solved each slot",
    default_order=80,
    requires="druginv-gym[solver]",
)
register_policy(
    "saa",
    _baseline("StochasticMPC", n_scenarios=SAA_SCENARIOS, window=MPC_WINDOW),
    help=f"rolling-horizon two-stage stochastic program: one order for {SAA_SCENARIOS} sampled "
    f"futures of the next {MPC_WINDOW} slots, re-solved each slot",
    default_order=90,
    requires="druginv-gym[solver]",
)


def _sb3(
    spec: BenchmarkSpec, params: Mapping[str, float], argument: str | None
) -> tuple[gym.Env, Any, str]:
    """``sb3:<algorithm>:<path>``: a Stable-Baselines3 model saved with ``model.save``, played
    greedily on the id its action space fits (Box: ``DrugRefill-v0``, MultiDiscrete:
    ``DrugRefillDiscrete-v0``, Discrete: ``DrugRefillSequential-v0``)."""
    from pathlib import Path

    from druginv_gym.adapters import ModelPolicy

    algo, _, path = (argument or "").partition(":")
    try:
        import stable_baselines3
    except ImportError as exc:
        raise ImportError("sb3:... needs stable-baselines3: pip install stable-baselines3") from exc
    known = ["A2C", "DDPG", "DQN", "PPO", "SAC", "TD3"]
    if algo.upper() not in known or not path:
        raise ValueError(
            f"sb3:{argument}: expected sb3:<algorithm>:<path>, the algorithm one of "
            f"{[k.lower() for k in known]}"
        )
    if not Path(path).is_file():
        raise ValueError(f"sb3:{argument}: no such file {path!r}")
    model = getattr(stable_baselines3, algo.upper()).load(path, device="cpu")
    env = _on_fitting_id(spec, model.action_space, f"sb3:{argument}")
    return env, ModelPolicy(model), f"{algo.upper()} {path}"


def _on_fitting_id(spec: BenchmarkSpec, action_space: Any, name: str) -> gym.Env:
    """The scenario's env on the id whose action space is of ``action_space``'s kind (Box:
    ``DrugRefill-v0``, MultiDiscrete: ``DrugRefillDiscrete-v0``, Discrete:
    ``DrugRefillSequential-v0``); ``ValueError`` naming ``name`` if none fits it."""
    from gymnasium import spaces

    ids = {
        spaces.Box: "DrugRefill-v0",
        spaces.MultiDiscrete: "DrugRefillDiscrete-v0",
        spaces.Discrete: "DrugRefillSequential-v0",
    }
    env_id = ids.get(type(action_space))
    if env_id is None:
        raise ValueError(f"{name}: action space {action_space} fits no DR2O id")
    env = spec.make_env(env_id)
    if env.action_space.shape != action_space.shape:
        raise ValueError(
            f"{name}: the model acts on {action_space}, the scenario's {env_id} on "
            f"{env.action_space}"
        )
    return env


register_policy(
    "sb3",
    _sb3,
    help="a Stable-Baselines3 model saved with model.save, played greedily",
    takes_argument=True,
    metavar="algorithm:path",
    requires="stable-baselines3",
)
#: Where an RLlib algorithm checkpoint (``algo.save(path)``, new API stack) keeps its default
#: module.
RLLIB_MODULE_PATH = ("learner_group", "learner", "rl_module", "default_policy")


def _rllib(
    spec: BenchmarkSpec, params: Mapping[str, float], argument: str | None
) -> tuple[gym.Env, Any, str]:
    """``rllib:<path>``: an RLlib checkpoint of the new API stack (an algorithm's folder from
    ``algo.save(path)``, or one module's folder), its default module played greedily on the
    id its action space fits, the action mapped onto the Box as with RLlib's default
    ``normalize_actions=True``. RLlib pins its own Gymnasium: run it where RLlib is installed
    (``make rllib-env``)."""
    from pathlib import Path

    from druginv_gym.adapters import RLModulePolicy

    try:
        from ray.rllib.core.rl_module.rl_module import RLModule
    except ImportError as exc:
        raise ImportError(
            "rllib:... needs RLlib: pip install 'ray[rllib]' (make rllib-env makes .venv-rllib)"
        ) from exc
    root = Path(argument or "")
    if not argument or not root.is_dir():
        raise ValueError(f"rllib:{argument}: no such checkpoint folder {argument!r}")
    folder = root.joinpath(*RLLIB_MODULE_PATH)
    if not folder.is_dir():  # a module's own folder
        folder = root
    try:
        module = RLModule.from_checkpoint(folder.resolve())
    except Exception as exc:  # RLlib's own errors for a folder that is no module checkpoint
        raise ValueError(
            f"rllib:{argument}: not an RLlib checkpoint of the new API stack "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    return (
        _on_fitting_id(spec, module.action_space, f"rllib:{argument}"),
        RLModulePolicy(module),
        f"RLlib {argument}",
    )


register_policy(
    "rllib",
    _rllib,
    help="an RLlib checkpoint (new API stack; algo.save or a module's folder), played greedily",
    takes_argument=True,
    metavar="path",
    requires="ray[rllib]",
)
register_policy(
    "random",
    _baseline("RandomPolicy"),
    help="uniform samples of the action space (a sanity floor)",
)

#: The entries a fresh interpreter has: the built-ins above, and the plugins' once loaded.
_fresh: dict[str, PolicyEntry] = _policies.snapshot()
