"""The batched episode core shared by every single and vector env.

``RefillCore`` runs ``B`` episodes of one scenario in lock-step (all at the same slot, which
holds because every episode has the same length). It turns actions into orders, calls
:func:`druginv_gym.dynamics.flow_step` (the dynamics on cumulative flows, checked against the
by-age reference :func:`~druginv_gym.dynamics.step_slot`), builds observations and info. A
single env is a core with ``B = 1``; the native vector env is a core with ``B = num_envs``
plus autoreset. Nothing here re-implements the dynamics.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import numpy as np
from gymnasium import spaces

from druginv_gym import dynamics
from druginv_gym.config import ScenarioConfig
from druginv_gym.dynamics import COST_TERMS, FlowState, SlotOutcome, flow_step
from druginv_gym.exogenous import TRACE_FIELDS

ActionMode = Literal["box", "discrete", "sequential"]
ACTION_MODES: tuple[str, ...] = ("box", "discrete", "sequential")

#: Per-drug observation features, in order (see ``RefillCore.observe``).
DRUG_FEATURES = (
    "price",
    "storage_rate",
    "last_demand",
    "drug_budget",
    "stock",
    "expiring",
    "band_lo",
    "band_hi",
    "refill_lo",
    "refill_hi",
    "shelf_life",
)
#: Global observation features, in order.
GLOBAL_FEATURES = ("budget_left", "storage_used", "time_left")
#: Extra features of the sequential id (per drug, then global).
SEQ_DRUG_FEATURES = ("pending_order", "is_current")
SEQ_GLOBAL_FEATURES = ("pending_spend", "pending_volume")

#: Upper bound of unbounded normalised features; values beyond are clipped (documented).
OBS_HIGH = 1.0e3
#: Box actions may exceed [0, 1] by this much (float32 rounding) and are then clipped.
ACTION_TOL = 1e-6

PER_DRUG_INFO = ("stock", "ordered", "accepted", "served", "unmet", "expired", "demand")


class ObservationScales(NamedTuple):
    """Divisors of the observation features (documented in docs/model.md, "Observation")."""

    price: float  #: USD/unit: the largest price level
    units: float  #: units: the largest of band_hi, refill_hi, demand_mean
    rate: float  #: USD/ft^3/slot: the upper end of the storage-rate process
    budget: float  #: USD: price * units


def observation_scales(config: ScenarioConfig) -> ObservationScales:
    """The normalisation scales of ``config``'s observations."""
    price = float(max(config.price_level.max(), 1e-12))
    units = float(
        max(config.band_hi.max(), config.refill_hi.max(), config.demand_mean.max(), 1e-12)
    )
    return ObservationScales(price, units, float(max(config.storage.high, 1e-12)), price * units)


class RefillCore:
    """State and step logic for ``num_envs`` DR2O episodes in lock-step.

    Args:
        config: the validated scenario.
        num_envs: batch size ``B``.
        mode: ``"box"`` (fractions in [0, 1]^N), ``"discrete"`` (levels 0..n_levels-1 per
            drug) or ``"sequential"`` (one level for one drug per step, in priority order).
    """

    def __init__(
        self, config: ScenarioConfig, num_envs: int, mode: ActionMode, batched: bool = True
    ) -> None:
        if mode not in ACTION_MODES:
            raise ValueError(f"mode = {mode!r}; expected one of {ACTION_MODES}")
        if num_envs < 1:
            raise ValueError(f"num_envs = {num_envs!r} must be >= 1")
        self.config = config
        self.num_envs = int(num_envs)
        self.mode = mode
        self.batched = batched  # False: error messages speak of one env's action (no batch axis)
        n, b = config.n_drugs, self.num_envs
        self._range = config.refill_hi - config.refill_lo  # units
        self.scales = observation_scales(config)
        self.price_scale, self.units_scale, self.rate_scale, self.budget_scale = self.scales
        self.n_drug_features = len(DRUG_FEATURES) + (
            len(SEQ_DRUG_FEATURES) if mode == "sequential" else 0
        )
        self.n_global_features = len(GLOBAL_FEATURES) + (
            len(SEQ_GLOBAL_FEATURES) if mode == "sequential" else 0
        )
        self.obs_dim = n * self.n_drug_features + self.n_global_features
        # One observation row with the static features (<= 1 by construction), zeros elsewhere:
        # ``observe`` starts from it and writes the dynamic features.
        static = np.stack(
            [
                config.band_lo / self.units_scale,
                config.band_hi / self.units_scale,
                config.refill_lo / self.units_scale,
                config.refill_hi / self.units_scale,
                config.shelf_life / config.max_shelf_life,
            ],
            axis=-1,
        )  # (N, 5)
        self._obs_scales = np.array([*self.scales, OBS_HIGH])  # ObservationScales order
        self._template = np.zeros(self.obs_dim, dtype=np.float32)
        self._template[: n * self.n_drug_features].reshape(n, -1)[:, 6:11] = np.minimum(static, 1.0)
        self.t = 0
        self.cursor = 0  # sequential: index into config.priority of the drug to decide next
        self.flow = FlowState(config, b)
        self.last_demand = np.zeros((b, n))
        self.pending = np.zeros((b, n))  # sequential: requested units decided this slot
        self.exo: dict[str, np.ndarray] = {}
        self.price = np.zeros((b, config.horizon, n))

    # ------------------------------------------------------------------ spaces
    @property
    def steps_per_episode(self) -> int:
        """Env steps in one episode (``T``, or ``N * T`` for the sequential id)."""
        c = self.config
        return c.horizon * (c.n_drugs if self.mode == "sequential" else 1)

    def single_action_space(self) -> spaces.Space:
        n, levels = self.config.n_drugs, self.config.n_levels
        if self.mode == "box":
            return spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32)
        if self.mode == "discrete":
            return spaces.MultiDiscrete(np.full(n, levels, dtype=np.int64))
        return spaces.Discrete(levels)

    def single_observation_space(self) -> spaces.Box:
        n = self.config.n_drugs
        drug_high = np.full((n, self.n_drug_features), OBS_HIGH, dtype=np.float32)
        drug_high[:, 6:11] = 1.0  # static band/refill/shelf features are <= 1 by construction
        if self.mode == "sequential":
            drug_high[:, len(DRUG_FEATURES) + 1] = 1.0  # is_current
        glob_high = np.ones(self.n_global_features, dtype=np.float32)
        if self.mode == "sequential":
            glob_high[len(GLOBAL_FEATURES) :] = OBS_HIGH
        high = np.concatenate([drug_high.ravel(), glob_high])
        return spaces.Box(np.zeros_like(high), high, dtype=np.float32)

    def feature_groups(self) -> tuple[list[str], list[str]]:
        """``(per-drug feature names, global feature names)`` of this mode."""
        drug_feats = list(DRUG_FEATURES)
        glob_feats = list(GLOBAL_FEATURES)
        if self.mode == "sequential":
            drug_feats += list(SEQ_DRUG_FEATURES)
            glob_feats += list(SEQ_GLOBAL_FEATURES)
        return drug_feats, glob_feats

    def feature_names(self) -> list[str]:
        """Names of the flat observation entries: ``"<drug>/<feature>"`` then globals.

        The observation reshapes as ``obs[: N * F].reshape(N, F)`` (drug-major) followed by
        the global features.
        """
        drug_feats, glob_feats = self.feature_groups()
        names = [f"{d}/{f}" for d in self.config.drug_names for f in drug_feats]
        return names + glob_feats

    # ------------------------------------------------------------------ reset
    def reset(self, traces: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, Any]]:
        """Start all episodes on ``traces`` (each field ``(B, T, N)``)."""
        c = self.config
        self.exo = {k: np.ascontiguousarray(traces[k], dtype=np.float64) for k in TRACE_FIELDS}
        self.price = self.exo["base_price"] + self.exo["premium"]
        self.t = 0
        self.cursor = 0
        self.flow = FlowState(c, self.num_envs)
        self.last_demand = np.broadcast_to(c.demand_mean, (self.num_envs, c.n_drugs)).copy()
        self.pending = np.zeros((self.num_envs, c.n_drugs))
        return self.observe(), self._reset_info()

    # ------------------------------------------------------------------ actions
    def decode(self, action: Any) -> np.ndarray:
        """Validate a batched action and return requested units.

        Returns (B, N) units for ``box``/``discrete``, or (B,) units for the current drug of
        each env for ``sequential``. Raises ``ValueError`` naming the bad value.
        """
        b, n = self.num_envs, self.config.n_drugs
        shape = (b,) if self.mode == "sequential" else (b, n)
        try:
            arr = np.asarray(action)
        except Exception as exc:  # ragged lists and the like
            raise ValueError(f"action could not be read as an array: {exc}") from None
        if arr.shape != shape:
            raise ValueError(f"action has shape {arr.shape}; expected {shape}")
        if self.mode == "box" and arr.dtype.kind == "f" and dynamics.get_backend() == "numba":
            kernel = dynamics.compiled(_decode_box_kernel)
            requested = np.empty(shape)
            if kernel is not None and (
                kernel(arr, self.config.refill_lo, self._range, ACTION_TOL, requested) < 0
            ):
                return requested
            # a bad value (the checks below name it), or no numba after all

        def where(bad: np.ndarray) -> str:
            idx = tuple(int(k) for k in np.argwhere(bad)[0])
            shown = idx if self.batched else idx[1:]
            value = arr[idx].item()
            return f"action{list(shown)} = {value!r}" if shown else f"action = {value!r}"

        if arr.dtype.kind not in "biuf":
            raise ValueError(f"action has dtype {arr.dtype}; expected a numeric array")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueError(f"{where(~np.isfinite(arr))} is not finite")
        if self.mode == "box":
            frac = arr.astype(np.float64)
            bad = (frac < -ACTION_TOL) | (frac > 1.0 + ACTION_TOL)
            if bad.any():
                raise ValueError(f"{where(bad)} is outside the Box [0, 1]")
            frac = np.clip(frac, 0.0, 1.0)
        else:
            levels = self.config.n_levels
            if arr.dtype.kind == "f" and not np.array_equal(arr, np.floor(arr)):
                raise ValueError(f"{where(arr != np.floor(arr))} is not an integer level")
            lv = arr.astype(np.int64)
            bad = (lv < 0) | (lv >= levels)
            if bad.any():
                raise ValueError(f"{where(bad)} is outside the levels 0..{levels - 1}")
            frac = lv / (levels - 1)
        if self.mode == "sequential":
            drug = self.config.priority[self.cursor]
            return self.config.refill_lo[drug] + frac * self._range[drug]
        return self.config.refill_lo + frac * self._range

    # ------------------------------------------------------------------ step
    def step(self, action: Any) -> tuple[np.ndarray, np.ndarray, bool, dict[str, Any]]:
        """Advance every episode by one env step.

        Returns ``(obs (B, D) float32, reward (B,) float64, terminated, info)``; ``terminated``
        is one bool for the whole batch (episodes run in lock-step).
        """
        if self.t >= self.config.horizon:
            raise RuntimeError("episode is over: call reset() before step()")
        requested = self.decode(action)
        if self.mode == "sequential":
            drug = int(self.config.priority[self.cursor])
            self.pending[:, drug] = requested
            self.cursor += 1
            if self.cursor < self.config.n_drugs:
                return self.observe(), np.zeros(self.num_envs), False, self._pending_info(drug)
            requested = self.pending
        outcome = self._advance(requested)
        info = self._step_info(outcome)
        reward = -info["costs"]["total"] / self.config.reward_scale
        if self.mode == "sequential":
            info["drug"] = np.full(self.num_envs, int(self.config.priority[-1]))
            info["slot_done"] = np.ones(self.num_envs, dtype=bool)
            self.cursor = 0
            self.pending = np.zeros_like(self.pending)
        return self.observe(), reward, self.t >= self.config.horizon, info

    @property
    def stock(self) -> np.ndarray:
        """(B, N, L) stock by remaining shelf life (``[..., 0]`` expires at the end of the
        coming slot); rebuilt from the flows, for inspection and rendering."""
        return self.flow.by_age(self.config.shelf_life)

    @property
    def spent(self) -> np.ndarray:
        """(B,) purchase spend so far (USD)."""
        return self.flow.spent

    def _advance(self, requested: np.ndarray) -> SlotOutcome:
        t = self.t
        demand = self.exo["demand"][:, t]
        outcome = flow_step(
            self.flow,
            requested,
            demand,
            self.price[:, t],
            self.exo["storage_rate"][:, t],
            self.config.drug_budget[t],
            self.config,
        )
        self.last_demand = demand.copy()
        self.t = t + 1
        return outcome

    # ------------------------------------------------------------------ observation
    def observe(self) -> np.ndarray:
        """(B, D) float32 normalised observation (see ``docs/model.md``, "Observation")."""
        if dynamics.get_backend() == "numba":
            kernel = dynamics.compiled(_observe_kernel)
            if kernel is not None:
                return self._observe_compiled(kernel)
        c = self.config
        b, n, f = self.num_envs, c.n_drugs, self.n_drug_features
        t = min(self.t, c.horizon - 1)  # after the last slot, show the last slot's prices
        level = self.flow.level
        obs = np.empty((b, self.obs_dim), dtype=np.float32)
        obs[:] = self._template  # the static features; the rest is overwritten below
        drug = obs[:, : n * f].reshape(b, n, f)
        hi = OBS_HIGH

        def put(k: int, values: np.ndarray, scale: float) -> None:
            # every dynamic feature is >= 0 by construction; only the top needs clipping
            drug[..., k] = np.minimum(values * (1.0 / scale), hi)

        put(0, self.price[:, t], self.price_scale)
        put(1, self.exo["storage_rate"][:, t], self.rate_scale)
        put(2, self.last_demand, self.units_scale)
        drug[..., 3] = np.minimum(c.drug_budget[t] * (1.0 / self.budget_scale), hi)
        put(4, level, self.units_scale)
        put(5, self.flow.expiring(c.shelf_life), self.units_scale)
        glob = obs[:, n * f :]
        glob[:, 0] = (
            np.clip(c.total_budget - self.flow.spent, 0.0, None) / c.total_budget
            if c.total_budget > 0
            else 0.0
        )
        glob[:, 1] = np.minimum((level @ c.unit_volume) / c.storage_capacity, 1.0)
        glob[:, 2] = (c.horizon - self.t) / c.horizon
        if self.mode == "sequential":
            self._observe_sequential(obs, t)
        return obs

    def _observe_sequential(self, obs: np.ndarray, t: int) -> None:
        """Write the sequential id's extra features into ``obs``."""
        c = self.config
        b, n, f = self.num_envs, c.n_drugs, self.n_drug_features
        drug = obs[:, : n * f].reshape(b, n, f)
        glob = obs[:, n * f :]
        hi = OBS_HIGH
        drug[..., 11] = np.minimum(self.pending * (1.0 / self.units_scale), hi)
        drug[..., 12] = 0.0
        if self.t < c.horizon:
            drug[:, c.priority[self.cursor], 12] = 1.0
        spend = (self.pending * self.price[:, t]).sum(axis=-1)
        glob[:, 3] = np.minimum(spend / c.total_budget, hi) if c.total_budget > 0 else 0.0
        glob[:, 4] = np.minimum((self.pending @ c.unit_volume) / c.storage_capacity, hi)

    def _observe_compiled(self, kernel: Any) -> np.ndarray:
        """:meth:`observe` in one compiled pass (``kernel``: :func:`_observe_kernel` compiled,
        same formulas)."""
        c = self.config
        t = min(self.t, c.horizon - 1)
        obs = np.empty((self.num_envs, self.obs_dim), dtype=np.float32)
        flow = self.flow
        static, limits = dynamics._static_rows(c)
        kernel(
            obs, self._template, self.n_drug_features, self.price[:, t],
            self.exo["storage_rate"][:, t], self.last_demand, c.drug_budget[t], flow.arrived,
            flow.left, flow.ring, flow.t, flow.spent, static, limits, self._obs_scales,
            (c.horizon - self.t) / c.horizon,
        )  # fmt: skip
        if self.mode == "sequential":
            self._observe_sequential(obs, t)
        return obs

    # ------------------------------------------------------------------ info
    def _zeros_info(self) -> dict[str, Any]:
        b, n = self.num_envs, self.config.n_drugs
        info: dict[str, Any] = {k: np.zeros((b, n)) for k in PER_DRUG_INFO}
        info["stock"] = self.flow.level
        info["costs"] = {k: np.zeros(b) for k in (*COST_TERMS, "total")}
        info["t"] = np.full(b, self.t)
        return info

    def _reset_info(self) -> dict[str, Any]:
        return {"stock": self.flow.level, "t": np.full(self.num_envs, self.t)}

    def _pending_info(self, drug: int) -> dict[str, Any]:
        info = self._zeros_info()
        info["ordered"] = self.pending.copy()
        info["drug"] = np.full(self.num_envs, drug)
        info["slot_done"] = np.zeros(self.num_envs, dtype=bool)
        return info

    def _step_info(self, o: SlotOutcome) -> dict[str, Any]:
        sums = o.sums()  # (6, B)
        return {
            "stock": o.level,
            "ordered": o.ordered,
            "accepted": o.accepted,
            "served": o.served,
            "unmet": o.unmet,
            "expired": o.expired,
            "demand": self.last_demand.copy(),
            "spend": sums[5],
            "costs": {
                "purchase": sums[0],
                "storage": sums[1],
                "penalty": sums[2],
                "shortage": sums[3],
                "total": sums[4],
            },
            "drug_costs": o.total,
            "t": np.full(self.num_envs, self.t),
        }


def _observe_kernel(
    obs, template, nf, price, rate, last_demand, budget, arrived, left, ring, played, spent,
    static, limits, scales, time_left,
):  # fmt: skip
    """:meth:`RefillCore.observe`'s base features for every env, written into ``obs``
    (``static``, ``limits``: :func:`druginv_gym.dynamics._static_rows`; ``scales``: the
    :class:`ObservationScales` (price, units, rate, budget) and ``OBS_HIGH``)."""
    unit_volume, shelf_life = static[2], static[3]
    total_budget, capacity = limits[0], limits[1]
    # the reciprocals observe() multiplies by, computed once (the same values)
    per_price, per_unit, per_rate, per_budget, hi = (
        1.0 / scales[0], 1.0 / scales[1], 1.0 / scales[2], 1.0 / scales[3], scales[4],
    )  # fmt: skip
    n_env = obs.shape[0]
    n = price.shape[1]
    big_l = ring.shape[1]
    g = n * nf
    # FlowState.expiring reads arrived(played - L_i + 1): 0 before slot 0, the current count
    # for slots not played yet, else the ring slot (the same for every env).
    source = np.empty(n, dtype=np.int64)
    for i in range(n):
        a = played - int(shelf_life[i]) + 1
        source[i] = -2 if a < 0 else (-1 if a >= played else a % big_l)
    d = template.shape[0]
    for b in range(n_env):
        for j in range(d):  # an explicit loop: numba's slice assignment is ~20x slower here
            obs[b, j] = template[j]
        volume = 0.0
        for i in range(n):
            row = i * nf
            level = arrived[b, i] - left[b, i]
            obs[b, row] = min(price[b, i] * per_price, hi)
            obs[b, row + 1] = min(rate[b, i] * per_rate, hi)
            obs[b, row + 2] = min(last_demand[b, i] * per_unit, hi)
            obs[b, row + 3] = min(budget[i] * per_budget, hi)
            obs[b, row + 4] = min(level * per_unit, hi)
            k = source[i]
            old = 0.0 if k == -2 else (arrived[b, i] if k == -1 else ring[b, k, i])
            expiring = min(max(old - left[b, i], 0.0), level)
            obs[b, row + 5] = min(expiring * per_unit, hi)
            volume += level * unit_volume[i]
        obs[b, g] = max(total_budget - spent[b], 0.0) / total_budget if total_budget > 0 else 0.0
        obs[b, g + 1] = min(volume / capacity, 1.0)
        obs[b, g + 2] = time_left


def _decode_box_kernel(frac, refill_lo, span, tol, out):
    """:meth:`RefillCore.decode` for valid box actions: ``out = refill_lo + clip(frac, 0, 1) *
    span``. Returns -1, or the flat index of the first value that is not finite or is outside
    ``[-tol, 1 + tol]`` (then ``decode``'s own checks raise the error)."""
    n_env, n = frac.shape
    for b in range(n_env):
        for i in range(n):
            f = frac[b, i]
            if not (f >= -tol and f <= 1.0 + tol):  # NaN fails both
                return b * n + i
            out[b, i] = refill_lo[i] + min(max(f, 0.0), 1.0) * span[i]
    return -1
