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

from druginv_gym import _kernels, dynamics
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
#: Keys of ``info["costs"]``, in the order of a slot outcome's per-env sums.
_COST_KEYS = (*COST_TERMS, "total")
#: Rows of :func:`druginv_gym._kernels.step_box_kernel`'s output block that hold the per-drug
#: info arrays, in the order of ``PER_DRUG_INFO`` then ``drug_costs`` (the block holds the
#: requested units, flow_kernel's eleven outputs from accepted to total, then the demand).
_BLOCK_INFO_ROWS = (5, 0, 1, 2, 3, 4, 12, 11)


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
        self._batch_shape = (b, n)
        # the compiled kernels' per-drug parameters and limits (the config is frozen)
        self._kernel_rows = dynamics._static_rows(config)
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
        return self.observe(), self._final_info(self._reset_info())

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
        if self.mode == "box" and dynamics.get_backend() == "numba":
            kernel = dynamics.compiled(_kernels.step_box_kernel)
            if kernel is not None:
                done = self._step_box_compiled(kernel, action)
                if done is not None:
                    return done
                # a bad value (decode below names it), or an action that is not a float array
        requested = self.decode(action)
        if self.mode == "sequential":
            drug = int(self.config.priority[self.cursor])
            self.pending[:, drug] = requested
            self.cursor += 1
            if self.cursor < self.config.n_drugs:
                info = self._pending_info(drug)
                return self.observe(), np.zeros(self.num_envs), False, self._final_info(info)
            requested = self.pending
        outcome = self._advance(requested)
        sums = outcome.sums()
        reward = -sums[4] / self.config.reward_scale
        info = self._info(self._rows(outcome), sums)
        if self.mode == "sequential":
            last = int(self.config.priority[-1])
            info["drug"] = np.full(self.num_envs, last) if self.batched else last
            info["slot_done"] = np.ones(self.num_envs, dtype=bool) if self.batched else True
            self.cursor = 0
            self.pending = np.zeros_like(self.pending)
        return self.observe(), reward, self.t >= self.config.horizon, info

    def _step_box_compiled(
        self, kernel: Any, action: Any
    ) -> tuple[np.ndarray, np.ndarray, bool, dict[str, Any]] | None:
        """:meth:`step` for box actions in one compiled call (``kernel``:
        :func:`druginv_gym._kernels.step_box_kernel` compiled): the same decoding, slot and
        observation as the general path, and the same values. Returns ``None``, with nothing
        changed, when the action is not a float array of the right shape or has a bad value."""
        if isinstance(action, np.ndarray):
            arr = action
        else:
            try:
                arr = np.asarray(action)
            except Exception:  # ragged lists and the like: decode() names the problem
                return None
        if arr.dtype.kind != "f" or arr.shape != self._batch_shape:
            return None
        b, n = self._batch_shape
        c, flow, t = self.config, self.flow, self.t
        horizon = c.horizon
        # the observation after the last slot shows the last slot's prices
        shown = t + 1 if t + 1 < horizon else horizon - 1
        static, limits = self._kernel_rows
        block = np.empty((13, b, n))  # requested, flow_kernel's eleven outputs, demand
        sums = np.empty((6, b))
        state = np.empty((2, b, n))
        spent = np.empty(b)
        obs = np.empty((b, self.obs_dim), dtype=np.float32)
        demand, rate = self.exo["demand"], self.exo["storage_rate"]
        bad = kernel(
            arr, c.refill_lo, self._range, ACTION_TOL, flow.arrived, flow.left, flow.ring,
            flow.spent, t, demand[:, t], self.price[:, t], rate[:, t], c.drug_budget[t], static,
            limits, block, sums, state, spent, obs, self._template, self.n_drug_features,
            self.price[:, shown], rate[:, shown], c.drug_budget[shown], self._obs_scales,
            (horizon - t - 1) / horizon,
        )  # fmt: skip
        if bad >= 0:
            return None
        flow.arrived, flow.left, flow.spent = state[0], state[1], spent
        flow.t = t + 1
        self.t = t + 1
        self.last_demand = demand[:, t]  # a view: the trace is never written
        reward = -sums[4] / c.reward_scale
        src = block if self.batched else block[:, 0]
        rows = [src[k] for k in _BLOCK_INFO_ROWS]
        return obs, reward, self.t >= horizon, self._info(rows, sums)

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
            kernel = dynamics.compiled(_kernels.observe_kernel)
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
        """:meth:`observe` in one compiled pass (``kernel``:
        :func:`druginv_gym._kernels.observe_kernel` compiled, same formulas)."""
        c = self.config
        t = min(self.t, c.horizon - 1)
        obs = np.empty((self.num_envs, self.obs_dim), dtype=np.float32)
        flow = self.flow
        static, limits = self._kernel_rows
        kernel(
            obs, self._template, self.n_drug_features, self.price[:, t],
            self.exo["storage_rate"][:, t], self.last_demand, c.drug_budget[t], flow.arrived,
            flow.left, flow.ring, flow.t, flow.spent, static, limits, self._obs_scales,
            (c.horizon - self.t) / c.horizon, 0, self.num_envs,
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

    def _rows(self, o: SlotOutcome) -> list[np.ndarray]:
        """A slot outcome's per-drug info arrays, in the order :meth:`_info` takes them, with the
        batch axis for a batched core, without it for a single env."""
        rows = [o.level, o.ordered, o.accepted, o.served, o.unmet, o.expired]
        rows += [self.last_demand.copy(), o.total]
        return rows if self.batched else [r[0] for r in rows]

    def _info(self, rows: list[np.ndarray], sums: np.ndarray) -> dict[str, Any]:
        """A step's info from its per-drug arrays (``rows``: ``PER_DRUG_INFO`` then
        ``drug_costs``) and the per-env sums (``(6, B)``: purchase, storage, penalty, shortage,
        total, spend): batched, or for a single env (``batched=False``) with ``(N,)`` arrays
        and Python scalars."""
        s = sums if self.batched else sums[:, 0].tolist()
        info: dict[str, Any] = dict(zip(PER_DRUG_INFO, rows[:7], strict=True))
        info["spend"] = s[5]
        info["costs"] = dict(zip(_COST_KEYS, s[:5], strict=True))
        info["drug_costs"] = rows[7]
        info["t"] = np.full(self.num_envs, self.t) if self.batched else self.t
        return info

    def _final_info(self, info: dict[str, Any]) -> dict[str, Any]:
        """``info`` (batched) as :meth:`step` returns it: unchanged for a batched core, without
        the batch axis for a single env (arrays ``(N,)``, scalars as Python types)."""
        if self.batched:
            return info
        out: dict[str, Any] = {}
        for key, value in info.items():
            if isinstance(value, dict):
                out[key] = {k: float(v[0]) for k, v in value.items()}
            elif value.ndim == 1:
                out[key] = value[0].item()
            else:
                out[key] = value[0]
        return out
