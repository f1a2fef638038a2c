"""``DrugRefill-v0`` and its variants: single envs and their native vector twins side by side."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from druginv_gym.config import ScenarioConfig
from druginv_gym.envs.core import ActionMode, RefillCore
from druginv_gym.envs.prefetch import TracePrefetch, wants_prefetch
from druginv_gym.exogenous import ExogenousTrace, as_trace, sample_exogenous, trace_fields
from druginv_gym.info import check_info_level
from druginv_gym.scenarios import make_scenario

__all__ = [
    "DrugRefillDiscreteEnv",
    "DrugRefillDiscreteVectorEnv",
    "DrugRefillEnv",
    "DrugRefillSequentialEnv",
    "DrugRefillSequentialVectorEnv",
    "DrugRefillVectorEnv",
    "resolve_config",
]


def resolve_config(
    scenario: str = "paper",
    n_drugs: int | None = None,
    horizon: int | None = None,
    config: ScenarioConfig | Mapping[str, Any] | None = None,
    scenario_seed: int = 0,
    n_levels: int | None = None,
    **scenario_options: Any,
) -> ScenarioConfig:
    """The scenario an env is built for, from its keyword arguments.

    ``config`` (a :class:`ScenarioConfig` or its ``to_dict()`` form) wins over ``scenario``;
    ``n_drugs``/``horizon`` must then agree with it. ``n_levels`` overrides the config's.
    Other keyword arguments go to the scenario's factory (e.g. ``split="test"`` for
    ``scenario="pharma"``).
    """
    if config is None:
        cfg = make_scenario(
            scenario,
            n_drugs=n_drugs,
            horizon=horizon,
            scenario_seed=scenario_seed,
            **scenario_options,
        )
    else:
        if scenario_options:
            raise ValueError(
                f"scenario options {sorted(scenario_options)} cannot be combined with config="
            )
        if isinstance(config, Mapping):
            cfg = ScenarioConfig.from_dict(dict(config))
        elif isinstance(config, ScenarioConfig):
            cfg = config
        else:
            raise ValueError(
                f"config must be a ScenarioConfig or a dict, got {type(config).__name__}"
            )
        if n_drugs is not None and n_drugs != cfg.n_drugs:
            raise ValueError(f"n_drugs = {n_drugs!r} disagrees with config.n_drugs = {cfg.n_drugs}")
        if horizon is not None and horizon != cfg.horizon:
            raise ValueError(f"horizon = {horizon!r} disagrees with config.horizon = {cfg.horizon}")
    if n_levels is not None and n_levels != cfg.n_levels:
        cfg = cfg.replace(n_levels=n_levels)
    return cfg


def _replay_traces(value: Any, config: ScenarioConfig, batch: int) -> dict[str, np.ndarray]:
    """Batched trace arrays from ``options["exogenous"]``: one trace (shared by every env) or
    a sequence of ``batch`` traces."""
    if isinstance(value, (ExogenousTrace, Mapping)):
        traces = [as_trace(value)] * batch
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        traces = [as_trace(v) for v in value]
        if len(traces) != batch:
            raise ValueError(f"options['exogenous'] has {len(traces)} traces for {batch} envs")
    else:
        raise ValueError(
            "options['exogenous'] must be an ExogenousTrace, a mapping of its fields, or a "
            f"sequence of them; got {type(value).__name__}"
        )
    fields = trace_fields(config)
    for trace in traces:
        trace.check_shape(config.horizon, config.n_drugs)
        if trace.fields != fields:
            have = "has a supply model" if config.supply is not None else "has no supply model"
            raise ValueError(
                f"options['exogenous'] has the fields {list(trace.fields)}; this scenario "
                f"{have} and needs {list(fields)}"
            )
    return {k: np.stack([getattr(tr, k) for tr in traces]) for k in fields}


def _check_options(options: dict[str, Any] | None) -> dict[str, Any]:
    options = {} if options is None else options
    if not isinstance(options, Mapping):
        raise ValueError(f"options must be a dict, got {type(options).__name__}")
    unknown = sorted(set(options) - {"exogenous"})
    if unknown:
        raise ValueError(f"unknown reset options {unknown}; supported: ['exogenous']")
    return dict(options)


def _build_core(
    env: gym.Env | VectorEnv,
    num_envs: int,
    render_mode: str | None,
    config_args: tuple[Any, ...],
    scenario_options: dict[str, Any],
    info_level: str = "full",
) -> RefillCore:
    """What the single and the vector envs build alike: check ``render_mode`` against the
    env's metadata, resolve the scenario (``config_args``: the positional arguments of
    :func:`resolve_config` after ``scenario_options``), and set the env's ``config``,
    ``render_mode`` and feature names. Returns the env's core of ``num_envs`` episodes."""
    modes = env.metadata["render_modes"]
    if render_mode is not None and render_mode not in modes:
        # as Gymnasium's own envs and gym.make: a warning, and render() then draws nothing
        gym.logger.warn(
            f"render_mode = {render_mode!r} is not one of the supported {modes}; "
            "render() will return None"
        )
    check_info_level(info_level)  # before the scenario is built: a cheap check first
    env.config = resolve_config(*config_args, **scenario_options)
    core = RefillCore(env.config, num_envs, env.action_mode, info_level)
    env.feature_names = core.feature_names()
    env.drug_feature_names, env.global_feature_names = core.feature_groups()
    env.render_mode = render_mode
    return core


#: ``rgb_array`` frame layout (pixels): height, a top strip, the margin, the bars' width to
#: aim at (a drug's column is 1-12 pixels, whole).
_FRAME_HEIGHT, _STRIP, _MARGIN, _BARS_WIDTH = 300, 10, 6, 480
_COLOURS = {
    "background": (255, 255, 255),
    "band": (225, 225, 225),  # C_lo .. C_hi of each drug
    "short": (214, 39, 40),  # stock below C_lo
    "ok": (44, 160, 44),  # inside the band
    "over": (255, 127, 14),  # above C_hi's penalty knee
    "time": (31, 119, 180),  # the slots played
    "budget": (148, 103, 189),  # the total budget spent
}


def _render_rgb(core: RefillCore) -> np.ndarray:
    """One frame ``(H, W, 3)`` uint8 of the first episode: a strip of the slots played, a
    strip of the budget spent, and per drug (priority order) a bar of its stock against its
    band ``[C_lo, C_hi]`` (grey), drawn to 1.25 C_hi; red below C_lo, orange above the upper
    penalty knee, green between."""
    c = core.config
    n = c.n_drugs
    column = max(1, min(12, _BARS_WIDTH // n))
    width = 2 * _MARGIN + n * column
    frame = np.empty((_FRAME_HEIGHT, width, 3), dtype=np.uint8)
    frame[:] = _COLOURS["background"]
    inner = width - 2 * _MARGIN

    def strip(row: int, fraction: float, colour: str) -> None:
        top = _MARGIN + row * (_STRIP + 2)
        filled = round(inner * min(max(fraction, 0.0), 1.0))
        frame[top : top + _STRIP, _MARGIN : _MARGIN + inner] = _COLOURS["band"]
        frame[top : top + _STRIP, _MARGIN : _MARGIN + filled] = _COLOURS[colour]

    strip(0, core.t / c.horizon, "time")
    strip(1, core.spent[0] / c.total_budget if c.total_budget > 0 else 0.0, "budget")
    top = _MARGIN + 2 * (_STRIP + 2) + _MARGIN
    bottom = _FRAME_HEIGHT - _MARGIN
    span = bottom - top
    level = core.flow.level[0]

    def height(units: np.ndarray) -> np.ndarray:
        return np.clip(units / (1.25 * c.band_hi) * span, 0, span).astype(int)

    stock_h, lo_h, hi_h = height(level), height(c.band_lo), height(c.band_hi)
    for k, i in enumerate(c.priority):
        x0 = _MARGIN + k * column
        x1 = x0 + max(column - 1, 1)  # one white pixel between drugs, when there is room
        frame[bottom - hi_h[i] : bottom - lo_h[i], x0:x1] = _COLOURS["band"]
        if level[i] < c.band_lo[i]:
            colour = "short"
        elif level[i] > c.knee_hi[i]:
            colour = "over"
        else:
            colour = "ok"
        frame[bottom - stock_h[i] : bottom, x0:x1] = _COLOURS[colour]
    return frame


def _render(env: Any, started: bool) -> str | np.ndarray | None:
    """What ``render()`` returns in the env's ``render_mode``."""
    if env.render_mode not in ("ansi", "rgb_array"):
        if env.render_mode is not None:
            gym.logger.warn(f"render_mode = {env.render_mode!r} draws nothing")
        return None
    if not started:
        raise gym.error.ResetNeeded("call reset() before render()")
    return _render_ansi(env._core) if env.render_mode == "ansi" else _render_rgb(env._core)


def _render_ansi(core: RefillCore, max_rows: int = 12) -> str:
    c = core.config
    level = core.flow.level[0]
    expiring = core.flow.expiring(c.shelf_life)[0]
    volume = float(level @ c.unit_volume)
    lines = [
        f"{c.name}: slot {core.t}/{c.horizon}  spent {core.spent[0]:,.0f} / "
        f"{c.total_budget:,.0f} USD  storage {volume:.2f} / {c.storage_capacity:.2f} ft^3",
        f"{'drug':>10} {'stock':>8} {'band':>15} {'last dem':>8} {'price':>8} {'expiring':>8}",
    ]
    supply = c.supply is not None
    if supply:  # the pipeline and the supplier's last fill (< 1: out)
        lines[1] += f" {'transit':>8} {'fill':>5}"
        transit = core.flow.in_transit[0]
        fill = core.exo["fill"][0, core.t - 1] if core.t else np.ones(c.n_drugs)
    t = min(core.t, c.horizon - 1)
    for i in c.priority[:max_rows]:
        flag = "<" if level[i] < c.band_lo[i] else (">" if level[i] > c.band_hi[i] else " ")
        line = (
            f"{c.drug_names[i]:>10} {level[i]:8.1f}{flag}[{c.band_lo[i]:6.1f},{c.band_hi[i]:6.1f}] "
            f"{core.last_demand[0, i]:8.1f} {core.price[0, t, i]:8.2f} {expiring[i]:8.1f}"
        )
        if supply:
            line += f" {transit[i]:8.1f} {fill[i]:5.2f}" + (" OUT" if fill[i] < 1 else "")
        lines.append(line)
    if c.n_drugs > max_rows:
        lines.append(f"... {c.n_drugs - max_rows} more drugs (priority order)")
    return "\n".join(lines)


def _autoreset_mode(mode: AutoresetMode | str) -> AutoresetMode:
    """``NEXT_STEP`` or ``SAME_STEP``: an :class:`AutoresetMode`, its value (``"SameStep"``)
    or its name in any case (``"same_step"``); ``ValueError`` names any other (``DISABLED``
    included: the env resets its sub-envs itself)."""
    allowed = (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)
    value = None
    if isinstance(mode, AutoresetMode):
        value = mode
    elif isinstance(mode, str):
        key = mode.replace("_", "").lower()
        value = next(
            (m for m in AutoresetMode if key in (m.value.lower(), m.name.replace("_", "").lower())),
            None,
        )
    if value not in allowed:
        raise ValueError(
            f"autoreset_mode = {mode!r}; supported: {[m.value for m in allowed]}"
        ) from None
    return value


def _sub_generators(seeds: Sequence[Any], num_envs: int) -> list[np.random.Generator]:
    """One generator per sub-env from a list of seeds (ints >= 0 or None), as Gymnasium seeds
    a single env; ``ValueError`` naming a bad list."""
    seeds = list(seeds)
    if len(seeds) != num_envs:
        raise ValueError(f"seed = {seeds!r}: {len(seeds)} seeds for {num_envs} sub-envs")
    for s in seeds:
        if s is not None and (isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0):
            raise ValueError(f"seed = {seeds!r}: {s!r} is not an integer >= 0 or None")
    return [gym.utils.seeding.np_random(None if s is None else int(s))[0] for s in seeds]


def _masked(info: dict[str, Any], b: int) -> dict[str, Any]:
    """``info`` with Gymnasium's masks: ``_key`` (``b`` True values) beside every key, nested
    dicts too (what ``SyncVectorEnv`` gives when every sub-env reports the key)."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        out[key] = _masked(value, b) if isinstance(value, dict) else value
        out[f"_{key}"] = np.ones(b, dtype=bool)
    return out


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(np.all(a == b))
    except Exception:  # incomparable values are not the same
        return False


def _info_level_property() -> property:
    """The env's ``info_level`` (its core's), settable between steps."""

    def get(env: Any) -> str:
        return env._core.info_level

    def put(env: Any, level: str) -> None:
        env._core.info_level = level

    return property(
        get,
        put,
        doc="``'full'`` (default: every per-drug array) or ``'summary'`` (per-env costs and "
        "totals only, ``<key>_total``); may be changed between steps, e.g. to ``'full'`` for "
        "the episodes whose per-drug arrays are wanted.",
    )


class DrugRefillEnv(gym.Env[np.ndarray, np.ndarray]):
    """Hospital drug refilling (DR2O): order N drugs every week over a finite horizon.

    ## Description
    The DR2O model of "drug refilling optimization ... Deep Reinforcement Learning" (Appl. Sci.
    2021, 11, 2726). Each slot (a week) the hospital sees prices (with emergency premiums),
    storage-cost rates, last week's demand, its stock, budgets and storage, and orders each
    drug. Orders are clipped to refill bounds, per-drug and total budgets and free storage;
    stock arrives at once, serves demand FIFO (unmet demand is lost), and units past their
    shelf life expire. See ``docs/model.md`` for every equation and default. A scenario with a
    supply model (``shortage``) adds lead times, supplier outages, recalls and an alternative
    source (``docs/model.md``, "Supply").

    ## Action Space
    ``Box(0, 1, (N,), float32)``: for each drug the fraction of its refill range,
    ``x_i = rho_lo_i + a_i (rho_hi_i - rho_lo_i)`` units. NaN/inf, a wrong shape, or values
    outside ``[0, 1]`` (beyond 1e-6) raise ``ValueError``; in-range requests are then clipped
    by budgets and storage (``info["accepted"]`` vs ``info["ordered"]``).

    ## Observation Space
    ``Box(0, high, (11 N + 3,), float32)``: per drug (drug-major) ``price``,
    ``storage_rate``, ``last_demand``, ``drug_budget``, ``stock``, ``expiring`` (units with one
    slot of life left), ``band_lo``, ``band_hi``, ``refill_lo``, ``refill_hi``,
    ``shelf_life`` (with a supply model, then ``arriving_k``, ``fill_last`` and
    ``fill_ahead_k``); then ``budget_left``, ``storage_used``, ``time_left`` (fractions).
    Prices are divided by the largest price level, quantities by the largest band top (or
    refill top), budgets by their product; values are clipped to the Box. ``feature_names``
    lists every entry.

    ## Rewards
    ``-(purchase + storage + penalty + shortage) / config.reward_scale`` for the slot
    (eq. 3 summed over drugs plus the unmet-demand cost), a Python ``float``.

    ## Starting State
    ``initial_stock`` fresh units per drug, nothing spent, slot 0; the whole exogenous trace
    (demand, prices, premiums, storage rates) is drawn from the seed, or replayed with
    ``reset(options={"exogenous": trace})``.

    ## Episode End
    ``terminated=True`` after slot ``T`` (the horizon is part of the MDP; ``time_left`` is
    observed). No truncation unless a ``TimeLimit`` is added.

    ## Arguments
    ``gym.make("DrugRefill-v0", scenario="paper", n_drugs=None, horizon=None, config=None,
    scenario_seed=0, n_levels=None, render_mode=None)``.

    ## Vectorized environment
    ``gym.make_vec("DrugRefill-v0", num_envs=k)`` returns :class:`DrugRefillVectorEnv`, numpy-
    batched with NEXT_STEP autoreset, sharing ``druginv_gym.dynamics``.

    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 1}
    action_mode: ActionMode = "box"
    info_level = _info_level_property()

    def __init__(
        self,
        scenario: str = "paper",
        n_drugs: int | None = None,
        horizon: int | None = None,
        config: ScenarioConfig | Mapping[str, Any] | None = None,
        scenario_seed: int = 0,
        n_levels: int | None = None,
        render_mode: str | None = None,
        info_level: str = "full",
        **scenario_options: Any,
    ) -> None:
        config_args = (scenario, n_drugs, horizon, config, scenario_seed, n_levels)
        self._core = _build_core(self, 1, render_mode, config_args, scenario_options, info_level)
        self.action_space = self._core.single_action_space()
        self.observation_space = self._core.single_observation_space()
        # this episode's trace arrays (1, T, N); env.exogenous makes the ExogenousTrace (checked
        # and read-only copies) on first use, so a reset does not pay for it
        self._traces: dict[str, np.ndarray] | None = None
        self._exogenous: ExogenousTrace | None = None

    _spec: EnvSpec | None = None

    @property
    def episode_steps(self) -> int:
        """Steps in an episode: the horizon (``N`` times it for the sequential id)."""
        c = self.config
        return c.horizon * (c.n_drugs if self.action_mode == "sequential" else 1)

    @property
    def spec(self) -> EnvSpec | None:
        """The ``EnvSpec`` that ``gym.make`` set, its ``max_episode_steps`` filled with
        :attr:`episode_steps` when the registration left it empty (the episode length depends
        on the scenario's options): wrappers that need it, such as Gymnasium's
        ``TimeAwareObservation``, find it. ``gym.make(env.spec)`` therefore adds a
        ``TimeLimit`` at the episode's own end, which changes nothing but a ``truncated=True``
        beside the last step's ``terminated=True``."""
        spec = self._spec
        if spec is None or spec.max_episode_steps is not None:
            return spec
        return dataclasses.replace(spec, max_episode_steps=self.episode_steps)

    @spec.setter
    def spec(self, value: EnvSpec | None) -> None:
        self._spec = value

    @property
    def exogenous(self) -> ExogenousTrace:
        """This episode's trace (arrays ``(T, N)``); raises before the first ``reset``."""
        if self._traces is None:
            raise gym.error.ResetNeeded("call reset() before reading env.exogenous")
        if self._exogenous is None:
            self._exogenous = ExogenousTrace(**{k: v[0] for k, v in self._traces.items()})
        return self._exogenous

    @property
    def t(self) -> int:
        """Index of the slot about to be decided (0..T)."""
        return self._core.t

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = _check_options(options)
        if "exogenous" in options:
            traces = _replay_traces(options["exogenous"], self.config, 1)
        else:
            traces = sample_exogenous(self.config, self.np_random, 1)
        obs = self._core.reset(traces)
        self._traces, self._exogenous = traces, None
        return obs[0], self._core.reset_info().single()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._traces is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        obs, reward, terminated, info = self._core.step_one(action)
        return obs, reward, terminated, False, info

    def render(self) -> str | np.ndarray | None:
        """``ansi``: a text table of the first drugs; ``rgb_array``: a frame of every drug's
        stock against its band, the slots played and the budget spent (uint8 ``(H, W, 3)``)."""
        return _render(self, self._traces is not None)


class DrugRefillDiscreteEnv(DrugRefillEnv):
    """``DrugRefillDiscrete-v0``: as :class:`DrugRefillEnv` with ``MultiDiscrete`` levels.

    ## Action Space
    ``MultiDiscrete([n_levels] * N)``: level ``k`` of drug ``i`` requests
    ``rho_lo_i + k / (n_levels - 1) (rho_hi_i - rho_lo_i)`` units (``n_levels`` = 11 by
    default). Non-integer, negative or too-large levels raise ``ValueError``.

    Everything else (observation, reward, episode end, vector twin) is as in ``DrugRefill-v0``.
    """

    action_mode: ActionMode = "discrete"


class DrugRefillSequentialEnv(DrugRefillEnv):
    """``DrugRefillSequential-v0``: the paper's section 4.4, one drug per step.

    ## Description
    Within a slot the drugs are decided one at a time in ``config.priority`` order (highest
    priority first), so each decision sees the ones before it; the slot is played after the
    last drug. An episode has ``N * T`` steps.

    ## Action Space
    ``Discrete(n_levels)``: the refill level of the current drug.

    ## Observation Space
    As ``DrugRefill-v0`` plus, per drug, ``pending_order`` (units requested so far this slot)
    and ``is_current`` (1 for the drug being decided), and the globals ``pending_spend``
    (requested spend / total budget) and ``pending_volume`` (requested volume / capacity):
    ``13 N + 5`` entries. ``info["drug"]`` is the drug just decided and ``info["slot_done"]``
    says whether the slot was played.

    ## Rewards
    0 for every decision but the last of a slot, which gets the slot's reward.
    """

    action_mode: ActionMode = "sequential"


class DrugRefillVectorEnv(VectorEnv):
    """Native numpy-batched ``DrugRefill-v0``: ``num_envs`` episodes stepped as arrays.

    Same model, observation and action encoding as the single env (both call
    :class:`~druginv_gym.envs.core.RefillCore`, hence ``druginv_gym.dynamics``). Every
    episode has the same length, so all sub-envs run in lock-step and end together; with
    NEXT_STEP autoreset (default) the step after an end resets them all (its actions are
    ignored, rewards are 0), with SAME_STEP the ending step does. ``get_attr``, ``set_attr``
    and ``call`` follow Gymnasium's vector API on attributes the sub-envs share.
    ``reset(seed=s)`` at ``num_envs=1`` reproduces the single env's ``reset(seed=s)`` exactly.

    ``info`` holds the single env's keys batched: per-drug arrays ``(num_envs, N)``,
    ``costs`` a dict of ``(num_envs,)`` arrays.

    While the episodes run, the next episodes' traces are drawn on a background thread
    (``prefetch``), so that the autoreset does not wait for them: the same numbers as drawing
    them at the reset (see :class:`~druginv_gym.envs.prefetch.TracePrefetch`), at the cost of
    holding one more set of traces (5 arrays of ``num_envs x horizon x n_drugs`` float64).

    Args:
        num_envs: number of episodes run side by side.
        max_episode_steps: truncate episodes after this many steps (``None``: no limit).
        prefetch: draw the next episodes' traces in the background; ``None`` (default) does so
            from :data:`~druginv_gym.envs.prefetch.PREFETCH_MIN_DRUG_SLOTS` drug-slots per batch
            on, where it pays for the thread (not after ``reset(seed=[...])``).
        autoreset_mode: ``NEXT_STEP`` (default: the step after an end resets, its actions
            ignored, rewards 0) or ``SAME_STEP`` (the ending step returns the next episodes'
            first observation, the last one in ``info["final_obs"]`` and its info in
            ``info["final_info"]``), as an :class:`~gymnasium.vector.AutoresetMode` or its
            value; also the ``autoreset_mode`` attribute and metadata entry.
        The other keyword arguments are those of the single env; a bad value raises
        ``ValueError`` naming it, an unknown name ``TypeError``.
    """

    metadata = {
        "render_modes": ["ansi", "rgb_array"],
        "render_fps": 1,
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }
    action_mode: ActionMode = "box"
    info_level = _info_level_property()

    def __init__(
        self,
        num_envs: int = 1,
        scenario: str = "paper",
        n_drugs: int | None = None,
        horizon: int | None = None,
        config: ScenarioConfig | Mapping[str, Any] | None = None,
        scenario_seed: int = 0,
        n_levels: int | None = None,
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
        prefetch: bool | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        info_level: str = "full",
        **scenario_options: Any,
    ) -> None:
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps = {max_episode_steps!r} must be >= 1")
        self.autoreset_mode = _autoreset_mode(autoreset_mode)
        self.metadata = dict(self.metadata, autoreset_mode=self.autoreset_mode)
        config_args = (scenario, n_drugs, horizon, config, scenario_seed, n_levels)
        self._core = _build_core(
            self, num_envs, render_mode, config_args, scenario_options, info_level
        )
        self.num_envs = self._core.num_envs
        self.prefetch = wants_prefetch(prefetch, self.num_envs, self.config)
        self.single_action_space = self._core.single_action_space()
        self.single_observation_space = self._core.single_observation_space()
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.max_episode_steps = max_episode_steps
        self._steps = 0
        self._autoreset = False
        self._started = False
        self._pending: TracePrefetch | None = None
        # one generator per sub-env after reset(seed=[...]); None: the env's np_random for all
        self._sub_rngs: list[np.random.Generator] | None = None

    @property
    def exogenous(self) -> list[ExogenousTrace]:
        """The current episodes' traces, one per sub-env."""
        if not self._started:
            raise gym.error.ResetNeeded("call reset() before reading env.exogenous")
        return [
            ExogenousTrace(**{k: v[b] for k, v in self._core.exo.items()})
            for b in range(self.num_envs)
        ]

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start ``num_envs`` episodes. ``seed``: an int seeds the env's one generator, which
        draws every sub-env's trace (at ``num_envs=1``, the single env's ``reset(seed=s)``); a
        list of ``num_envs`` seeds (ints or None) gives sub-env ``b`` its own generator, so
        that its episodes, autoresets included, are those of a single env reset with
        ``seed[b]`` (as Gymnasium's ``SyncVectorEnv`` of single envs), until a reset with an
        int seed; ``None`` continues the generators as they are."""
        if isinstance(seed, (list, tuple, np.ndarray)):
            self._sub_rngs = _sub_generators(seed, self.num_envs)
            if self._pending is not None:  # drawn from the shared generator: not wanted now
                self._pending.wait()
                self._pending = None
            super().reset(seed=None)
        else:
            if seed is not None:
                self._sub_rngs = None
            super().reset(seed=seed)
        options = _check_options(options)
        if "exogenous" in options:
            traces = _replay_traces(options["exogenous"], self.config, self.num_envs)
        else:
            traces = self._draw_traces()
        self._started = True
        return self._start_episodes(traces)

    def _start_episodes(self, traces: dict[str, np.ndarray]) -> tuple[np.ndarray, dict]:
        """Start the episodes of ``traces``: their first observation and info (a reset and
        both autoresets)."""
        self._steps = 0
        self._autoreset = False
        return self._core.reset(traces), self._core.reset_info().batched()

    def _draw_traces(self) -> dict[str, np.ndarray]:
        """The next episodes' traces from ``np_random`` (prefetched when possible), and, with
        ``prefetch``, the start of the following draw."""
        if self._sub_rngs is not None:
            draws = [sample_exogenous(self.config, rng, 1) for rng in self._sub_rngs]
            return {k: np.concatenate([d[k] for d in draws]) for k in draws[0]}
        traces = None
        if self._pending is not None:
            traces = self._pending.take(self.np_random)
            self._pending = None
        if traces is None:
            traces = sample_exogenous(self.config, self.np_random, self.num_envs)
        if self.prefetch and type(self.np_random.bit_generator) is np.random.PCG64:
            self._pending = TracePrefetch(self.config, self.np_random, self.num_envs)
        return traces

    def close_extras(self, **kwargs: Any) -> None:
        if self._pending is not None:
            self._pending.wait()
            self._pending = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_pending"] = None  # a thread does not copy; the copy draws its next traces itself
        return state

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self._started:
            raise gym.error.ResetNeeded("call reset() before step()")
        b = self.num_envs
        if self._autoreset:
            obs, info = self._start_episodes(self._draw_traces())
            return obs, np.zeros(b), np.zeros(b, dtype=bool), np.zeros(b, dtype=bool), info
        obs, reward, terminated, report = self._core.step(actions)
        info = report.batched()
        self._steps += 1
        truncated = (
            not terminated
            and self.max_episode_steps is not None
            and self._steps >= self.max_episode_steps
        )
        if (terminated or truncated) and self.autoreset_mode == AutoresetMode.SAME_STEP:
            # Gymnasium's SAME_STEP: the next episodes start now; the last observation and
            # info of the ended ones are in info["final_obs"] / info["final_info"] (masked)
            final_obs = np.empty(b, dtype=object)
            final_obs[:] = list(obs)
            final_info = _masked(info, b)
            obs, info = self._start_episodes(self._draw_traces())
            info.update(final_obs=final_obs, _final_obs=np.ones(b, dtype=bool))
            info.update(final_info=final_info, _final_info=np.ones(b, dtype=bool))
        else:
            self._autoreset = bool(terminated or truncated)
        return (
            obs,
            reward,
            np.full(b, terminated, dtype=bool),
            np.full(b, truncated, dtype=bool),
            info,
        )

    # The sub-envs of the native vector env are rows of one batch: they share the env's
    # attributes. These follow Gymnasium's VectorEnv API (SyncVectorEnv's methods) on that.
    def get_attr(self, name: str) -> tuple[Any, ...]:
        """``name`` of each sub-env: ``exogenous`` per sub-env, any other attribute of the env
        (shared by all sub-envs) once per sub-env."""
        if name == "exogenous":
            return tuple(self.exogenous)
        return (getattr(self, name),) * self.num_envs

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call the env's method ``name`` once (the sub-envs share it) and give its result for
        each sub-env; a non-callable attribute is returned as :meth:`get_attr` does."""
        value = getattr(self, name)
        result = value(*args, **kwargs) if callable(value) else value
        return (result,) * self.num_envs

    def set_attr(self, name: str, values: Any) -> None:
        """Set the env's attribute ``name``: one value, or one per sub-env, all equal (the
        sub-envs share their attributes: ``ValueError`` for differing values; use Gymnasium's
        ``SyncVectorEnv`` of single envs for per-env attributes)."""
        if isinstance(values, (list, tuple)):
            if len(values) != self.num_envs:
                raise ValueError(
                    f"set_attr({name!r}): {len(values)} values for {self.num_envs} sub-envs"
                )
            first = values[0]
            if any(v is not first and not _same(v, first) for v in values[1:]):
                raise ValueError(
                    f"set_attr({name!r}, {values!r}): the native vector env's sub-envs share "
                    "their attributes; give one value (or use SyncVectorEnv of single envs)"
                )
            values = first
        setattr(self, name, values)

    def render(self) -> str | np.ndarray | None:
        """As the single env's, for the first sub-env."""
        return _render(self, self._started)


class DrugRefillDiscreteVectorEnv(DrugRefillVectorEnv):
    """Native vector ``DrugRefillDiscrete-v0`` (``MultiDiscrete`` levels per drug)."""

    action_mode: ActionMode = "discrete"


class DrugRefillSequentialVectorEnv(DrugRefillVectorEnv):
    """Native vector ``DrugRefillSequential-v0`` (one drug per step, ``Discrete`` levels)."""

    action_mode: ActionMode = "sequential"
