"""The policy protocol, and the plumbing that lets a rule think in units of drug.

Every policy (baselines, hindsight replay, trained agents) follows one protocol::

    policy.reset()           # at the start of each episode, after env.reset()
    action = policy.act(obs) # an action of the env the policy was built for

:class:`OrderPolicy` is the base of the rule-based policies: a subclass computes per-drug orders
in units from an :class:`ObservationView` (the observation decoded back to units) and the base
class turns them into the action of whichever id the env is (Box, MultiDiscrete or Sequential).
Rules see only the observation, their own memory of earlier observations, and the scenario's
static parameters (bands, bounds, costs); never the future trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from druginv_gym.config import ScenarioConfig
from druginv_gym.dynamics import safe_divide
from druginv_gym.observation import observation_scales

__all__ = [
    "ObservationReader",
    "ObservationView",
    "OrderPolicy",
    "Policy",
    "RandomPolicy",
    "orders_to_action",
]


@runtime_checkable
class Policy(Protocol):
    """What ``druginv_gym.evaluate`` needs from a policy."""

    def reset(self) -> None:  # pragma: no cover - protocol
        """Forget the previous episode; called after ``env.reset()``."""
        ...

    def act(self, obs: np.ndarray) -> Any:  # pragma: no cover - protocol
        """The action for ``obs``."""
        ...


def check_min_history(value: Any) -> int:
    """A policy's ``min_history`` (demands observed before its forecaster is used): an
    integer >= 1, else ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"min_history = {value!r} must be an integer >= 1")
    return value


def policy_forecaster(spec: Any) -> tuple[Any, bool]:
    """``(forecaster, refit)`` of a policy's ``forecaster`` argument: a registered name is
    built and refitted each slot on the episode's observed demand (``refit`` True); a saved
    forecaster's path or an instance is used as it is, fitted beforehand (False)."""
    from druginv_gym.forecasting import FORECASTERS, make_forecaster

    if isinstance(spec, str):
        return make_forecaster(spec), spec in FORECASTERS
    return make_forecaster(spec), False


def _mode_of(env: gym.Env) -> str:
    mode = getattr(env.unwrapped, "action_mode", None)
    if mode not in ("box", "discrete", "sequential"):
        raise ValueError(
            f"{type(env.unwrapped).__name__} is not a DR2O env (no action_mode); "
            "build the policy on gym.make('DrugRefill-v0' | 'DrugRefillDiscrete-v0' | "
            "'DrugRefillSequential-v0')"
        )
    return mode


@dataclass(frozen=True)
class ObservationView:
    """One observation decoded back to units. Per-drug arrays are ``(N,)`` float64.

    Attributes:
        t: slot about to be decided (0..T).
        price: ``p_i(t)`` USD/unit. storage_rate: ``r_i(t)`` USD/ft^3/slot.
        last_demand: ``A_i(t-1)`` units (the scenario's mean demand at ``t = 0``).
        drug_budget: ``B_i(t)`` USD. stock: units on hand. expiring: units with one slot of
        life left. budget_left: USD left of the total budget. storage_used: ft^3.
        current: index of the drug being decided (sequential id), else ``None``.
        pending: units requested so far this slot (sequential id), else zeros.
        pipeline: units ordered and not yet arrived (a supply model's ``arriving_k``
            features summed), else ``None``.
        fill_last: the share of the last slot's order its supplier filled (a supply model;
            else ``None``).
        arriving: ``(K, N)`` the pipeline by arrival slot, row ``k`` due at the start of slot
            ``t + k`` (a supply model with lead times; else ``None``).
        fill_ahead: ``(A, N)`` the announced fills of slots ``t .. t + A - 1`` (a supply model
            that announces outages; else ``None``).
    """

    t: int
    price: np.ndarray
    storage_rate: np.ndarray
    last_demand: np.ndarray
    drug_budget: np.ndarray
    stock: np.ndarray
    expiring: np.ndarray
    budget_left: float
    storage_used: float
    current: int | None
    pending: np.ndarray
    pipeline: np.ndarray | None = None
    fill_last: np.ndarray | None = None
    arriving: np.ndarray | None = None
    fill_ahead: np.ndarray | None = None

    @property
    def position(self) -> np.ndarray:
        """The inventory position (units): stock plus pipeline."""
        return self.stock if self.pipeline is None else self.stock + self.pipeline


class ObservationReader:
    """Decodes the flat observation of a DR2O env (any id) into an :class:`ObservationView`.

    Values come back with float32 precision (relative error ~1e-7).
    """

    def __init__(self, env: gym.Env) -> None:
        self.mode = _mode_of(env)
        self.config: ScenarioConfig = env.unwrapped.config
        self.scales = observation_scales(self.config)
        n = self.config.n_drugs
        # Feature names of the outermost env, so wrappers that add per-drug features
        # (e.g. ForecastObservation) are read correctly.
        drug_feats = list(env.get_wrapper_attr("drug_feature_names"))
        glob_feats = list(env.get_wrapper_attr("global_feature_names"))
        self._f = {name: k for k, name in enumerate(drug_feats)}
        self._g = {name: n * len(drug_feats) + k for k, name in enumerate(glob_feats)}
        self._n_f = len(drug_feats)
        self.obs_dim = n * len(drug_feats) + len(glob_feats)
        self._arriving = [k for name, k in self._f.items() if name.startswith("arriving_")]
        self._ahead = [k for name, k in self._f.items() if name.startswith("fill_ahead_")]

    def read(self, obs: np.ndarray) -> ObservationView:
        c, s = self.config, self.scales
        obs = np.asarray(obs, dtype=np.float64)
        if obs.shape != (self.obs_dim,):
            raise ValueError(
                f"observation has shape {obs.shape}; this {self.mode} env gives ({self.obs_dim},)"
            )
        drug = obs[: c.n_drugs * self._n_f].reshape(c.n_drugs, self._n_f)
        f, g = self._f, self._g
        t = round((1.0 - obs[g["time_left"]]) * c.horizon)
        current = None
        pending = np.zeros(c.n_drugs)
        if self.mode == "sequential":
            current = int(np.argmax(drug[:, f["is_current"]]))
            pending = drug[:, f["pending_order"]] * s.units
        pipeline = fill_last = arriving = fill_ahead = None
        if "fill_last" in f:  # a supply model
            arriving = drug[:, self._arriving].T * s.units
            pipeline = arriving.sum(axis=0)
            fill_last = drug[:, f["fill_last"]]
            fill_ahead = drug[:, self._ahead].T
        return ObservationView(
            t=int(t),
            price=drug[:, f["price"]] * s.price,
            storage_rate=drug[:, f["storage_rate"]] * s.rate,
            last_demand=drug[:, f["last_demand"]] * s.units,
            drug_budget=drug[:, f["drug_budget"]] * s.budget,
            stock=drug[:, f["stock"]] * s.units,
            expiring=drug[:, f["expiring"]] * s.units,
            budget_left=float(obs[g["budget_left"]] * c.total_budget),
            storage_used=float(obs[g["storage_used"]] * c.storage_capacity),
            current=current,
            pending=pending,
            pipeline=pipeline,
            fill_last=fill_last,
            arriving=arriving,
            fill_ahead=fill_ahead,
        )


def orders_to_action(
    orders: np.ndarray, config: ScenarioConfig, mode: str, current: int | None = None
) -> Any:
    """Requested units ``(N,)`` as an action of ``mode``.

    ``box``: the fraction of each refill range (float32, clipped to [0, 1]); ``discrete``: the
    nearest level; ``sequential``: the nearest level of drug ``current``. Orders outside the
    refill bounds are clipped to them (the env would clip them too).
    """
    orders = np.asarray(orders, dtype=np.float64)
    span = config.refill_hi - config.refill_lo
    frac = safe_divide(orders - config.refill_lo, span, where=span > 0, fill=0.0).clip(0.0, 1.0)
    if mode == "box":
        return frac.astype(np.float32)
    levels = np.rint(frac * (config.n_levels - 1)).astype(np.int64)
    if mode == "discrete":
        return levels
    if current is None:
        raise ValueError("the sequential id needs the index of the current drug")
    return int(levels[current])


class OrderPolicy:
    """Base of rule-based policies: subclasses implement :meth:`orders` (units per drug).

    The orders of a slot are computed once, at its first decision (for the sequential id, the
    other drugs' decisions of the slot reuse them). ``self.history`` holds the demands observed
    so far this episode, ``(slots, N)``.
    """

    def __init__(self, env: gym.Env) -> None:
        self.env = env
        self.reader = ObservationReader(env)
        self.config = self.reader.config
        self.mode = self.reader.mode
        self.reset()

    def reset(self) -> None:
        self._slot: int | None = None
        self._orders = np.zeros(self.config.n_drugs)
        self._history: list[np.ndarray] = []

    @property
    def history(self) -> np.ndarray:
        """Demand observed so far this episode, ``(slots seen, N)`` units."""
        if not self._history:
            return np.zeros((0, self.config.n_drugs))
        return np.stack(self._history)

    def mean_demand(self, window: int | None = None) -> np.ndarray:
        """Average observed demand (units/slot); the scenario's nominal mean before any."""
        hist = self.history
        if len(hist) == 0:
            return np.asarray(self.config.demand_mean, dtype=np.float64)
        return hist[-window:].mean(axis=0) if window else hist.mean(axis=0)

    def act(self, obs: np.ndarray) -> Any:
        view = self.reader.read(obs)
        if view.t != self._slot:
            if view.t > 0:
                self._history.append(view.last_demand)
            self._slot = view.t
            self._orders = np.asarray(self.orders(view), dtype=np.float64)
        return orders_to_action(self._orders, self.config, self.mode, view.current)

    def orders(self, view: ObservationView) -> np.ndarray:  # pragma: no cover - abstract
        """Requested units per drug, ``(N,)``, for the slot of ``view``."""
        raise NotImplementedError

    def forecast(
        self, forecaster: Any, horizon: int, min_history: int = 1, refit: bool = False
    ) -> np.ndarray:
        """``(horizon, N)`` demand forecast of ``forecaster`` from the demand observed so far
        this episode (refitted on it first when ``refit``); the scenario's nominal mean until
        ``max(min_history, forecaster.min_history)`` slots have been observed (from slot 0 on
        for a forecaster with ``looks_ahead``, the look-ahead reference ``TrueFuture``)."""
        hist = self.history
        need = max(min_history, getattr(forecaster, "min_history", 1))
        if len(hist) < need and not getattr(forecaster, "looks_ahead", False):
            mean = np.asarray(self.config.demand_mean, dtype=np.float64)
            return np.broadcast_to(mean, (horizon, mean.shape[0])).copy()
        series = hist.T  # (N, slots)
        if refit:
            forecaster.fit(series)
        return np.maximum(np.asarray(forecaster.predict(series, horizon), dtype=np.float64).T, 0.0)

    def usable(self, view: ObservationView, demand: np.ndarray) -> np.ndarray:
        """Stock that can still serve after this slot, plus the pipeline (the usable
        inventory position; the pipeline is zero without a supply model): what expires unused
        is not counted.

        FIFO serves the expiring units first, so ``max(expiring - demand, 0)`` of them are
        expected to be thrown away at the end of the slot.
        """
        return view.position - np.maximum(view.expiring - demand, 0.0)

    def usable_stock(self, view: ObservationView, demand: np.ndarray) -> np.ndarray:
        """:meth:`usable` without the pipeline: the stock on hand that can still serve."""
        return view.stock - np.maximum(view.expiring - demand, 0.0)


class RandomPolicy:
    """Uniformly random actions from the env's action space (seeded)."""

    def __init__(self, env: gym.Env, seed: int | None = None) -> None:
        self.action_space = env.action_space
        self.seed = seed
        self.action_space.seed(seed)

    def reset(self) -> None:
        """Nothing to forget; the action stream continues across episodes."""

    def act(self, obs: np.ndarray) -> Any:
        return self.action_space.sample()
