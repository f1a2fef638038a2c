"""The batched episode core shared by every single and vector env.

``RefillCore`` runs ``B`` episodes of one scenario in lock-step (all at the same slot, which
holds because every episode has the same length). It turns actions into orders, plays the slot
with :func:`druginv_gym.dynamics.flow_step` (the model's readable numpy specification) or, for
box actions on the compiled backend, with one call of
:func:`druginv_gym._kernels.step_box_kernel` (the same formulas compiled), and builds
observations and info. Everything here is batched: a single env is a core with ``B = 1`` whose
env shows the one-env view of each step's :class:`StepInfo`; the native vector env is a core
with ``B = num_envs`` plus autoreset, showing the batched view. Nothing here re-implements the
dynamics.
"""

from __future__ import annotations

import operator
from typing import Any, Literal, NamedTuple

import numpy as np
from gymnasium import spaces

from druginv_gym import _kernels, dynamics
from druginv_gym.config import ScenarioConfig
from druginv_gym.dynamics import (
    COST_TERMS,
    SUPPLY_INFO,
    FlowState,
    SlotOutcome,
    SupplyInputs,
    flow_step,
)
from druginv_gym.exogenous import trace_fields
from druginv_gym.info import TOTAL_SUFFIX, check_info_level
from druginv_gym.observation import (
    DYNAMIC_DRUG_FEATURES,
    OBS_HIGH,
    STATIC_DRUG_FEATURES,
    feature_groups,
    kernel_layout,
    observation_scales,
)
from druginv_gym.substitution import SUBSTITUTION_INFO
from druginv_gym.supply import supply_feature_names

ActionMode = Literal["box", "discrete", "sequential"]
ACTION_MODES: tuple[str, ...] = ("box", "discrete", "sequential")

#: Box actions may exceed [0, 1] by this much (float32 rounding) and are then clipped.
ACTION_TOL = 1e-6

#: Per-drug info arrays, in order, and the slot-outcome field each one shows
#: (:class:`~druginv_gym.dynamics.SlotOutcome`; ``demand`` is the slot's demand).
INFO_SOURCES = {
    "stock": "level",
    "ordered": "ordered",
    "accepted": "accepted",
    "served": "served",
    "unmet": "unmet",
    "expired": "expired",
    "demand": "demand",
    "drug_costs": "total",
}
PER_DRUG_INFO = tuple(k for k in INFO_SOURCES if k != "drug_costs")
#: The slot-outcome fields of :data:`INFO_SOURCES` but the demand (which the core holds), and
#: where the demand goes among them.
_OUTCOME_INFO = operator.attrgetter(*(f for f in INFO_SOURCES.values() if f != "demand"))
_DEMAND_ROW = list(INFO_SOURCES.values()).index("demand")
#: Keys of ``info["costs"]``, and the row of each one (and of ``spend``) in a slot's per-env
#: sums (:data:`druginv_gym._kernels.SUM_ROWS`).
_COST_KEYS = (*COST_TERMS, "total")
_SUM_ROW = {name: k for k, name in enumerate(_kernels.SUM_ROWS)}
_TOTAL, _SPEND_ROW = _SUM_ROW["total"], _SUM_ROW["spend"]
_COST_ROWS = tuple((k, _SUM_ROW[k]) for k in _COST_KEYS)
_COST_VALUES = operator.itemgetter(*(i for _, i in _COST_ROWS))
#: Rows of :func:`druginv_gym._kernels.step_box_kernel`'s output block that hold the info
#: arrays of :data:`INFO_SOURCES`, found by name in the block's row list.
_BLOCK_INFO_ROWS = tuple(_kernels.STEP_BLOCK.index(src) for src in INFO_SOURCES.values())
_N_BLOCK = len(_kernels.STEP_BLOCK)
#: With a supply model, the block of :func:`druginv_gym._kernels.step_box_supply_kernel`: the
#: same first rows, then the :data:`SUPPLY_INFO` rows.
_SUPPLY_BLOCK = ("ordered", *_kernels.SUPPLY_OUTPUTS)
if _SUPPLY_BLOCK[:_N_BLOCK] != _kernels.STEP_BLOCK:
    raise AssertionError("the supply step's block must start with STEP_BLOCK's rows")
_N_SUPPLY_BLOCK = len(_SUPPLY_BLOCK)
_SUPPLY_ROWS = slice(_SUPPLY_BLOCK.index(SUPPLY_INFO[0]), _N_SUPPLY_BLOCK)
#: The positions of the per-drug info arrays and of ``drug_costs`` in a list of rows in
#: :data:`INFO_SOURCES` order, and in the compiled step's block.
_INFO_KEYS = tuple(INFO_SOURCES)
_LIST_PER_DRUG = tuple(_INFO_KEYS.index(k) for k in PER_DRUG_INFO)
_LIST_DRUG_COSTS = _INFO_KEYS.index("drug_costs")
_BLOCK_PER_DRUG = tuple(_BLOCK_INFO_ROWS[i] for i in _LIST_PER_DRUG)
_BLOCK_DRUG_COSTS = _BLOCK_INFO_ROWS[_LIST_DRUG_COSTS]
#: ``RefillCore.step_one``'s info arrays, in :data:`PER_DRUG_INFO` order then ``drug_costs``,
#: taken from the rows of its (15, N) block (only the rows it hands out become views).
_ONE_INFO_ROWS = operator.itemgetter(*_BLOCK_PER_DRUG, _BLOCK_DRUG_COSTS)


#: The rows of the compiled steps' blocks that the summary info sums, in the order of
#: ``PER_DRUG_INFO`` (then ``SUPPLY_INFO`` with a supply model).
_BOX_TOTAL_ROWS = np.array(_BLOCK_PER_DRUG, dtype=np.int64)
_SUPPLY_TOTAL_ROWS = np.array(
    [*_BLOCK_PER_DRUG, *(_SUPPLY_BLOCK.index(k) for k in SUPPLY_INFO)], dtype=np.int64
)
#: The summary kernel arguments of a full-info compiled step: no scratch, no totals.
_NO_ROWS = np.empty(0, dtype=np.int64)
_NO_TOTALS = np.empty((0, 0))
_NO_SCRATCH = {r: np.empty((r, 0, 0)) for r in (_N_BLOCK, _N_SUPPLY_BLOCK)}


def slot_major(traces: dict[str, np.ndarray], fields: tuple[str, ...]) -> dict[str, np.ndarray]:
    """``traces``' ``fields`` as float64 ``(B, T, N)`` arrays stored slot by slot: the same
    values and shape, but each slot's ``[:, t]`` is one contiguous ``(B, N)`` block.

    A step reads one slot of every env; stored env by env (``(B, T, N)`` C order) that slot is
    ``B`` scattered rows, stored slot by slot it is one block. An array already stored so (a
    batch of one, or a prefetched draw) is not copied.
    """
    out = {}
    for k in fields:
        arr = np.asarray(traces[k], dtype=np.float64)
        by_slot = arr.transpose(1, 0, 2)
        if not by_slot.flags.c_contiguous:
            by_slot = np.ascontiguousarray(by_slot)
        out[k] = by_slot.transpose(1, 0, 2)
    return out


class ActionError(ValueError):
    """A bad action. The message names the bad value; :attr:`single` is the same message
    for the one-env view of a batch of one (no batch axis in indices and shapes)."""

    def __init__(self, message: str, single: str | None = None) -> None:
        super().__init__(message)
        self.single = message if single is None else single


def as_action_array(action: Any) -> np.ndarray:
    """``action`` as an array; :class:`ActionError` when it cannot be one (ragged lists)."""
    if isinstance(action, np.ndarray):
        return action
    try:
        return np.asarray(action)
    except Exception as exc:  # ragged lists and the like
        raise ActionError(f"action could not be read as an array: {exc}") from None


class StepInfo(NamedTuple):
    """What one step of ``B`` envs reports, and its two views: :meth:`batched` for a vector
    env, :meth:`single` for a batch of one (the single env's ``info``). Each view is built from
    these arrays directly (not a batched dict unbatched afterwards), which keeps the single
    env's step lean.
    """

    #: per-drug arrays ``(B, N)``: a list, or the rows of one ``(R, B, N)`` block
    rows: list[np.ndarray] | np.ndarray
    #: the position in ``rows`` of each :data:`PER_DRUG_INFO` array, in order
    per_drug: tuple[int, ...]
    #: the position of ``drug_costs``; ``None`` when no slot was played
    drug_costs: int | None
    #: ``(6, B)`` per-env sums (rows :data:`druginv_gym._kernels.SUM_ROWS`); ``None`` when no
    #: slot was played (then ``costs`` are zeros and there is no ``spend`` or ``drug_costs``)
    sums: np.ndarray | None
    #: slots played after the step
    t: int
    #: more per-env arrays ``(B,)`` (the sequential id's ``drug`` and ``slot_done``)
    extra: tuple[tuple[str, np.ndarray], ...] = ()
    #: a supply model's per-drug arrays ``(B, N)``, named by
    #: :data:`druginv_gym.dynamics.SUPPLY_INFO`, then substitution's, named by
    #: :data:`druginv_gym.substitution.SUBSTITUTION_INFO` (empty without either)
    supply: tuple[tuple[str, np.ndarray], ...] = ()
    #: the summary info: ``(U, B)`` per-env totals over drugs, named by :attr:`total_keys`
    #: (then ``rows`` and ``supply`` are not shown); ``None`` for the full info
    totals: np.ndarray | None = None
    #: the name of each row of :attr:`totals`
    total_keys: tuple[str, ...] = ()

    def batched(self) -> dict[str, Any]:
        """``info`` of a vector env: per-drug arrays ``(B, N)``, per-env arrays ``(B,)``."""
        if self.totals is not None:
            return self._summary_batched()
        rows, sums = self.rows, self.sums
        info: dict[str, Any] = {
            k: rows[i] for k, i in zip(PER_DRUG_INFO, self.per_drug, strict=True)
        }
        stock = rows[self.per_drug[0]]
        b = stock.shape[0]
        # with no slot played: the same keys and types as after one, all zero
        info.update(self._costs_batched(b))
        info["drug_costs"] = np.zeros_like(stock) if sums is None else rows[self.drug_costs]
        info["t"] = np.full(b, self.t)
        info.update(self.extra)
        info.update(self.supply)
        return info

    def _costs_batched(self, b: int) -> dict[str, Any]:
        """``spend`` and ``costs`` of ``b`` envs (zeros when no slot was played)."""
        sums = self.sums
        if sums is None:
            return {"spend": np.zeros(b), "costs": {k: np.zeros(b) for k in _COST_KEYS}}
        return {"spend": sums[_SPEND_ROW], "costs": {k: sums[i] for k, i in _COST_ROWS}}

    def _summary_batched(self) -> dict[str, Any]:
        totals = self.totals
        b = totals.shape[1]
        info = self._costs_batched(b)
        info["t"] = np.full(b, self.t)
        info.update(zip(self.total_keys, totals, strict=True))
        info.update(self.extra)
        return info

    def _costs_single(self) -> dict[str, Any]:
        """``spend`` and ``costs`` of a batch of one as floats (zeros when no slot was played)."""
        if self.sums is None:
            return {"spend": 0.0, "costs": dict.fromkeys(_COST_KEYS, 0.0)}
        sums = self.sums[:, 0].tolist()
        return {
            "spend": sums[_SPEND_ROW],
            "costs": dict(zip(_COST_KEYS, _COST_VALUES(sums), strict=True)),
        }

    def _summary_single(self) -> dict[str, Any]:
        info = self._costs_single()
        info["t"] = self.t
        info.update(zip(self.total_keys, self.totals[:, 0].tolist(), strict=True))
        for key, value in self.extra:
            info[key] = value[0].item()
        return info

    def single(self) -> dict[str, Any]:
        """``info`` of a single env (a batch of one): per-drug arrays ``(N,)`` (views), per-env
        values as Python scalars, ``costs`` a dict of floats."""
        if self.totals is not None:
            return self._summary_single()
        rows = self.rows
        first = rows[:, 0] if type(rows) is np.ndarray else [r[0] for r in rows]
        info: dict[str, Any] = dict(
            zip(PER_DRUG_INFO, map(first.__getitem__, self.per_drug), strict=True)
        )
        info.update(self._costs_single())
        info["drug_costs"] = (
            np.zeros_like(first[self.per_drug[0]]) if self.sums is None else first[self.drug_costs]
        )
        info["t"] = self.t
        for key, value in self.extra:
            info[key] = value[0].item()
        for key, value in self.supply:
            info[key] = value[0]
        return info


class RefillCore:
    """State and step logic for ``num_envs`` DR2O episodes in lock-step.

    Args:
        config: the validated scenario.
        num_envs: batch size ``B`` (an integer >= 1).
        mode: ``"box"`` (fractions in [0, 1]^N), ``"discrete"`` (levels 0..n_levels-1 per
            drug) or ``"sequential"`` (one level for one drug per step, in priority order).
        info_level: ``"full"`` or ``"summary"`` (:data:`druginv_gym.info.INFO_LEVELS`); the
            attribute :attr:`info_level` may be changed between steps.

    Raises ``ValueError`` naming a bad ``num_envs``, ``mode`` or ``info_level``.
    """

    def __init__(
        self, config: ScenarioConfig, num_envs: int, mode: ActionMode, info_level: str = "full"
    ) -> None:
        if mode not in ACTION_MODES:
            raise ValueError(f"mode = {mode!r}; expected one of {ACTION_MODES}")
        if (
            isinstance(num_envs, bool)
            or not isinstance(num_envs, (int, np.integer))
            or num_envs < 1
        ):
            raise ValueError(f"num_envs = {num_envs!r} must be an integer >= 1")
        self.config = config
        self.num_envs = int(num_envs)
        self.mode = mode
        self.info_level = info_level
        n, b = config.n_drugs, self.num_envs
        self._range = config.refill_hi - config.refill_lo  # units
        self._batch_shape = (b, n)
        self._one_shape = (n,)
        self._one_out_shape = (_N_BLOCK + 2, n)  # step_one_kernel's block, then the state
        # the compiled kernels' per-drug parameters and limits (the config is frozen)
        self._kernel_rows = dynamics._static_rows(config)
        self.scales = observation_scales(config)
        self.drug_features, self.global_features = feature_groups(mode == "sequential", config)
        self._drug_col = {f: k for k, f in enumerate(self.drug_features)}
        self._glob_col = {f: k for k, f in enumerate(self.global_features)}
        self.n_drug_features = len(self.drug_features)
        self.n_global_features = len(self.global_features)
        self.obs_dim = n * self.n_drug_features + self.n_global_features
        self._layout = kernel_layout(mode == "sequential", config)
        # a supply model (lead times, outages, recalls): flow_step or the one-call box step
        # plays it, observe shows its features
        self.supply = config.supply
        self.supply_features = supply_feature_names(config)
        self._supply_columns = np.zeros(3, dtype=np.int64)  # observe_supply_kernel's columns
        if self.supply_features:
            cols = [self._drug_col[f] for f in self.supply_features]
            if cols != list(range(cols[0], cols[0] + len(cols))):  # the kernel writes a run
                raise AssertionError(f"supply features not contiguous: {cols}")
            arriving = sum(f.startswith("arriving_") for f in self.supply_features)
            self._supply_columns[:] = (cols[0], arriving, self.supply.announce)
        self._alt_fill = 0.0 if self.supply is None else float(self.supply.alt_fill)
        # therapeutic substitution: the numpy slot (the compiled kernels do not model it)
        self._substitution = config.substitution is not None
        # the summary info's keys, and the compiled steps' scratch block (made at first use)
        self.total_keys = tuple(
            k + TOTAL_SUFFIX
            for k in (
                *PER_DRUG_INFO,
                *(SUPPLY_INFO if self.supply is not None else ()),
                *(SUBSTITUTION_INFO if self._substitution else ()),
            )
        )
        self._scratch: np.ndarray | None = None
        # step_one's lean path: a single box or discrete env on the compiled backend, no supply
        # model or substitution (its arrays are made at reset)
        self._lean = (
            b == 1 and mode != "sequential" and self.supply is None and not self._substitution
        )
        self._top_level = config.n_levels - 1  # the discrete mode's highest level
        self._zero_slot = np.zeros((1, 1, n))
        self._slots: tuple[np.ndarray, ...] = ()
        self._static_cols = [self._drug_col[f] for f in STATIC_DRUG_FEATURES]
        # One observation row with the static features (<= 1 by construction), zeros elsewhere:
        # ``observe`` starts from it and writes the dynamic features.
        units = self.scales.units
        static = {
            "band_lo": config.band_lo / units,
            "band_hi": config.band_hi / units,
            "refill_lo": config.refill_lo / units,
            "refill_hi": config.refill_hi / units,
            "shelf_life": config.shelf_life / config.max_shelf_life,
        }
        self._obs_scales = np.array([*self.scales, OBS_HIGH])  # ObservationScales order
        self._template = np.zeros(self.obs_dim, dtype=np.float32)
        drug_rows = self._template[: n * self.n_drug_features].reshape(n, -1)
        for f, col in zip(STATIC_DRUG_FEATURES, self._static_cols, strict=True):
            drug_rows[:, col] = np.minimum(static[f], 1.0)
        self.cursor = 0  # sequential: index into config.priority of the drug to decide next
        self.flow = FlowState(config, b)
        self.last_demand = np.zeros((b, n))
        self.pending = np.zeros((b, n))  # sequential: requested units decided this slot
        self.exo: dict[str, np.ndarray] = {}
        self.price = np.zeros((b, config.horizon, n))  # order prices, dynamics.order_price
        self.emergency: np.ndarray | None = None  # (B, T, N) dynamics.unmet_price, or None
        self.alt_price: np.ndarray | None = None  # (B, T, N) the alternative source's price

    @property
    def t(self) -> int:
        """Slots played (the index of the slot about to be decided, 0..T): the state's clock."""
        return self.flow.t

    @property
    def info_level(self) -> str:
        """``"full"`` (every per-drug array) or ``"summary"`` (per-env costs and totals)."""
        return self._info_level

    @info_level.setter
    def info_level(self, level: str) -> None:
        self._info_level = check_info_level(level)
        self._summary = level == "summary"

    def summarise(self, info: StepInfo) -> StepInfo:
        """``info`` at the summary level when :attr:`info_level` asks for it: each per-drug
        array summed over drugs (in drug order), named :attr:`total_keys`."""
        if not self._summary or info.totals is not None:
            return info
        rows = info.rows
        arrays = [rows[i] for i in info.per_drug] + [v for _, v in info.supply]
        totals = np.stack([a.sum(axis=-1) for a in arrays])
        return info._replace(rows=(), supply=(), totals=totals, total_keys=self.total_keys)

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
        drug_high[:, self._static_cols] = 1.0  # static features are <= 1 by construction
        glob_high = np.full(self.n_global_features, OBS_HIGH, dtype=np.float32)
        for f in ("budget_left", "storage_used", "time_left"):  # fractions
            glob_high[self._glob_col[f]] = 1.0
        if self.mode == "sequential":
            drug_high[:, self._drug_col["is_current"]] = 1.0
        for f in self.supply_features:
            if f.startswith("fill_"):  # fractions
                drug_high[:, self._drug_col[f]] = 1.0
        high = np.concatenate([drug_high.ravel(), glob_high])
        return spaces.Box(np.zeros_like(high), high, dtype=np.float32)

    def feature_groups(self) -> tuple[list[str], list[str]]:
        """``(per-drug feature names, global feature names)`` of this mode."""
        return list(self.drug_features), list(self.global_features)

    def feature_names(self) -> list[str]:
        """Names of the flat observation entries: ``"<drug>/<feature>"`` then globals.

        The observation reshapes as ``obs[: N * F].reshape(N, F)`` (drug-major) followed by
        the global features.
        """
        names = [f"{d}/{f}" for d in self.config.drug_names for f in self.drug_features]
        return names + list(self.global_features)

    # ------------------------------------------------------------------ reset
    def reset(self, traces: dict[str, np.ndarray]) -> np.ndarray:
        """Start all episodes on ``traces`` (each field ``(B, T, N)``); returns the first
        observation ``(B, D)`` (the reset ``info`` is ``stock``, :attr:`flow`'s level, and
        ``t = 0``)."""
        c = self.config
        self.exo = slot_major(traces, trace_fields(c))
        base, premium = self.exo["base_price"], self.exo["premium"]
        self.price = dynamics.order_price(c, base, premium)
        self.emergency = dynamics.unmet_price(c, base, premium)
        if self.supply is not None:
            self.alt_price = self.supply.alt_markup * base
        if self._lean:  # step_one's arrays, slot by slot: (T, 1, N) (views, no copies)
            emergency = self._zero_slot if self.emergency is None else self.emergency
            self._slots = tuple(
                np.ascontiguousarray(a.transpose(1, 0, 2))
                for a in (self.exo["demand"], self.price, self.exo["storage_rate"], emergency)
            )
        self.cursor = 0
        self.flow = FlowState(c, self.num_envs)
        self.last_demand = np.empty((self.num_envs, c.n_drugs))
        self.last_demand[...] = c.demand_mean
        self.pending = np.zeros((self.num_envs, c.n_drugs))
        return self.observe()

    # ------------------------------------------------------------------ actions
    def decode(self, action: Any) -> np.ndarray:
        """Validate a batched action and return requested units.

        Returns (B, N) units for ``box``/``discrete``, or (B,) units for the current drug of
        each env for ``sequential``. Raises :class:`ActionError` naming the bad value.
        """
        b, n = self.num_envs, self.config.n_drugs
        shape = (b,) if self.mode == "sequential" else (b, n)
        arr = as_action_array(action)
        if arr.shape != shape:
            raise ActionError(
                f"action has shape {arr.shape}; expected {shape}",
                f"action has shape {arr.shape[1:]}; expected {shape[1:]}",
            )

        def bad_value(bad: np.ndarray, why: str) -> ActionError:
            idx = tuple(int(k) for k in np.argwhere(bad)[0])
            value = arr[idx].item()

            def say(shown: tuple[int, ...]) -> str:
                where = f"action{list(shown)}" if shown else "action"
                return f"{where} = {value!r} {why}"

            return ActionError(say(idx), say(idx[1:]))

        if arr.dtype.kind not in "biuf":
            raise ActionError(f"action has dtype {arr.dtype}; expected a numeric array")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise bad_value(~np.isfinite(arr), "is not finite")
        if self.mode == "box":
            frac = arr.astype(np.float64)
            bad = (frac < -ACTION_TOL) | (frac > 1.0 + ACTION_TOL)
            if bad.any():
                raise bad_value(bad, "is outside the Box [0, 1]")
            frac = np.clip(frac, 0.0, 1.0)
        else:
            levels = self.config.n_levels
            if arr.dtype.kind == "f" and not np.array_equal(arr, np.floor(arr)):
                raise bad_value(arr != np.floor(arr), "is not an integer level")
            lv = arr.astype(np.int64)
            bad = (lv < 0) | (lv >= levels)
            if bad.any():
                raise bad_value(bad, f"is outside the levels 0..{levels - 1}")
            frac = lv / (levels - 1)
        if self.mode == "sequential":
            drug = self.config.priority[self.cursor]
            return self.config.refill_lo[drug] + frac * self._range[drug]
        return self.config.refill_lo + frac * self._range

    # ------------------------------------------------------------------ step
    def step(self, action: Any) -> tuple[np.ndarray, np.ndarray, bool, StepInfo]:
        """Advance every episode by one env step.

        Returns ``(obs (B, D) float32, reward (B,) float64, terminated, report)``;
        ``terminated`` is one bool for the whole batch (episodes run in lock-step); the env
        shows ``report`` (a :class:`StepInfo`) as its ``info``.
        """
        if self.flow.t >= self.config.horizon:
            raise RuntimeError("episode is over: call reset() before step()")
        if self.mode == "box" and dynamics.get_backend() == "numba" and not self._substitution:
            kernel = dynamics.compiled(
                _kernels.step_box_kernel if self.supply is None else _kernels.step_box_supply_kernel
            )
            if kernel is not None:
                done = self._step_box_compiled(kernel, action)
                if done is not None:
                    return done
                # a bad value (decode below names it), or an action that is not a float array
        requested = self.decode(action)
        b = self.num_envs
        if self.mode == "sequential":
            drug = int(self.config.priority[self.cursor])
            self.pending[:, drug] = requested
            self.cursor += 1
            if self.cursor < self.config.n_drugs:
                obs = self._observe_decided(drug)
                return obs, np.zeros(b), False, self.summarise(self._pending_info(drug))
            requested = self.pending
        outcome = self._advance(requested)
        sums = outcome.sums()
        reward = -sums[_TOTAL] / self.config.reward_scale
        rows = list(_OUTCOME_INFO(outcome))
        rows.insert(_DEMAND_ROW, self.last_demand.copy())
        extra: tuple[tuple[str, np.ndarray], ...] = ()
        if self.mode == "sequential":
            last = int(self.config.priority[-1])
            extra = (("drug", np.full(b, last)), ("slot_done", np.ones(b, dtype=bool)))
            self.cursor = 0
            self.pending = np.zeros_like(self.pending)
        supply = () if outcome.supply is None else tuple(outcome.supply.items())
        if outcome.substitution is not None:
            supply += tuple(outcome.substitution.items())
        info = StepInfo(rows, _LIST_PER_DRUG, _LIST_DRUG_COSTS, sums, self.t, extra, supply)
        return self.observe(), reward, self.t >= self.config.horizon, self.summarise(info)

    def step_one(self, action: Any) -> tuple[np.ndarray, float, bool, dict[str, Any]]:
        """:meth:`step` of a batch of one as a single env shows it: ``(obs (D,), reward,
        terminated, info)``, the reward a Python float, ``info`` :meth:`StepInfo.single`'s.

        A float box action, or (with the full info) an integer array of levels in range, on
        the compiled backend, with neither a supply model nor substitution, takes one lean
        compiled call (:func:`druginv_gym._kernels.step_one_kernel`: the same values, with the
        info built straight from its output block); the rest goes through :meth:`step`.
        Raises :class:`ActionError` with the one-env message (no batch axis)."""
        if (
            self._lean
            and type(action) is np.ndarray
            and action.shape == self._one_shape
            and dynamics.get_backend() == "numba"
        ):
            kind = action.dtype.kind
            if self.mode == "box":
                frac = action if kind == "f" else None
            elif (  # the discrete mode's summary adds its totals in numpy: the batched path
                not self._summary
                and kind in "iu"
                and action.min() >= 0
                and action.max() <= self._top_level
            ):
                frac = action / self._top_level  # decode's fractions, the same values
            else:  # a float or out-of-range level: decode() accepts or names it
                frac = None
            if frac is not None:
                done = self._step_one_compiled(frac)
                if done is not None:
                    return done
        arr = as_action_array(action)
        try:  # checked as a batch of one
            obs, reward, terminated, info = self.step(arr[None])
        except ActionError as exc:
            raise ActionError(exc.single) from None
        return obs[0], float(reward[0]), bool(terminated), info.single()

    def _step_one_compiled(
        self, frac: np.ndarray
    ) -> tuple[np.ndarray, float, bool, dict[str, Any]] | None:
        """:meth:`step_one` in one call of :func:`druginv_gym._kernels.step_one_kernel`;
        ``None``, with nothing changed, for a bad value (the general path names it) or when
        numba cannot be imported."""
        kernel = dynamics.compiled(_kernels.step_one_kernel)
        if kernel is None:
            return None
        c, flow = self.config, self.flow
        t = flow.t
        if t >= c.horizon:
            raise RuntimeError("episode is over: call reset() before step()")
        out = np.empty(self._one_out_shape)
        sums = np.empty(7)
        obs = np.empty(self.obs_dim, dtype=np.float32)
        demand, price, rate, emergency = self._slots
        static, limits = self._kernel_rows
        summary = self._summary
        units = np.empty((len(self.total_keys), 1)) if summary else _NO_TOTALS
        bad = kernel(
            frac, c.refill_lo, self._range, ACTION_TOL, flow.arrived, flow.left, flow.ring,
            flow.spent, t, demand, price, rate, c.drug_budget, emergency, static, limits, out,
            sums, obs, self._template, self.n_drug_features, self._layout, self._obs_scales,
            _BOX_TOTAL_ROWS if summary else _NO_ROWS, units,
        )  # fmt: skip
        if bad >= 0:
            return None
        flow.arrived, flow.left = out[_N_BLOCK : _N_BLOCK + 1], out[_N_BLOCK + 1 :]
        flow.spent = sums[6:]
        flow.t = t + 1
        self.last_demand = demand[t]  # a view: the trace is never written
        totals = sums.tolist()
        reward, terminated = -totals[_TOTAL] / c.reward_scale, t + 1 >= c.horizon
        costs = dict(zip(_COST_KEYS, _COST_VALUES(totals), strict=True))
        if summary:  # StepInfo.single's summary keys, in its order
            info = {"spend": totals[_SPEND_ROW], "costs": costs, "t": t + 1}
            info.update(zip(self.total_keys, units[:, 0].tolist(), strict=True))
            return obs, reward, terminated, info
        rows = _ONE_INFO_ROWS(out)  # (N,) views
        info = dict(zip(PER_DRUG_INFO, rows, strict=False))  # all but the last: drug_costs
        info["spend"] = totals[_SPEND_ROW]
        info["costs"] = costs
        info["drug_costs"] = rows[-1]
        info["t"] = t + 1
        return obs, reward, terminated, info

    def _step_box_compiled(
        self, kernel: Any, action: Any
    ) -> tuple[np.ndarray, np.ndarray, bool, StepInfo] | None:
        """:meth:`step` for box actions in one compiled call (``kernel``:
        :func:`druginv_gym._kernels.step_box_kernel` compiled, or ``step_box_supply_kernel``
        with a supply model): the same decoding, slot and observation as the general path, and
        the same values. Returns ``None``, with nothing changed, when the action is not a float
        array of the right shape or has a bad value (the general path then names the
        problem)."""
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
        c, flow = self.config, self.flow
        t = flow.t
        horizon = c.horizon
        # the observation after the last slot shows the last slot's prices
        shown = t + 1 if t + 1 < horizon else horizon - 1
        static, limits = self._kernel_rows
        rows = _N_BLOCK if self.supply is None else _N_SUPPLY_BLOCK
        if self._summary:  # the per-drug outputs go to a scratch block of a few envs
            if self._scratch is None:  # the same rows every step: the supply model is fixed
                self._scratch = np.empty((rows, _kernels.summary_chunk(n), n))
            scratch = self._scratch
            block = np.empty((1, b, n))
            total_rows = _BOX_TOTAL_ROWS if self.supply is None else _SUPPLY_TOTAL_ROWS
            totals = np.empty((len(total_rows), b))
        else:
            scratch, total_rows, totals = _NO_SCRATCH[rows], _NO_ROWS, _NO_TOTALS
            block = np.empty((rows, b, n))
        sums = np.empty((6, b))
        state = np.empty((2, b, n))
        spent = np.empty(b)
        obs = np.empty((b, self.obs_dim), dtype=np.float32)
        exo = self.exo
        demand, rate = exo["demand"], exo["storage_rate"]
        if self.supply is None:  # the arguments written out: this call is the paper's hot path
            bad = kernel(
                arr, c.refill_lo, self._range, ACTION_TOL, flow.arrived, flow.left, flow.ring,
                flow.spent, t, demand[:, t], self.price[:, t], rate[:, t], c.drug_budget[t],
                self._emergency_at(t), static, limits, block, sums, state, spent, obs,
                self._template, self.n_drug_features,
                self._layout, self.price[:, shown], rate[:, shown], c.drug_budget[shown],
                self._obs_scales, (horizon - t - 1) / horizon, scratch, total_rows, totals,
            )  # fmt: skip
        else:  # the pipeline changes in place, and only with a valid action
            bad = kernel(
                arr, c.refill_lo, self._range, ACTION_TOL, flow.arrived, flow.left, flow.ring,
                flow.pipeline, flow.spent, t, demand[:, t], self.price[:, t], rate[:, t],
                c.drug_budget[t], self._emergency_at(t), static, limits, exo["fill"][:, t],
                exo["lead_time"][:, t], exo["recall"][:, t], self.alt_price[:, t],
                self._alt_fill, block, sums, state, spent, obs, self._template,
                self.n_drug_features, self._layout, self.price[:, shown], rate[:, shown],
                c.drug_budget[shown], self._obs_scales, (horizon - t - 1) / horizon,
                exo["fill"], self._supply_columns, scratch, total_rows, totals,
            )  # fmt: skip
        if bad >= 0:
            return None
        flow.arrived, flow.left, flow.spent = state[0], state[1], spent
        flow.t = t + 1
        self.last_demand = demand[:, t]  # a view: the trace is never written
        reward = -sums[_TOTAL] / c.reward_scale
        if self._summary:
            info = StepInfo((), (), None, sums, flow.t, (), (), totals, self.total_keys)
        elif self.supply is None:
            info = StepInfo(block, _BLOCK_PER_DRUG, _BLOCK_DRUG_COSTS, sums, flow.t)
        else:
            supply = tuple(zip(SUPPLY_INFO, block[_SUPPLY_ROWS], strict=True))
            info = StepInfo(block, _BLOCK_PER_DRUG, _BLOCK_DRUG_COSTS, sums, flow.t, (), supply)
        return obs, reward, flow.t >= horizon, info

    def _emergency_at(self, t: int) -> np.ndarray:
        """(B, N) the kernels' emergency price of slot ``t``: zeros with the exogenous premium."""
        if self.emergency is None:
            return dynamics._no_emergency(self._batch_shape)
        return self.emergency[:, t]

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
        """Play slot ``t`` with the numpy dynamics; the state's clock moves on."""
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
            emergency=None if self.emergency is None else self.emergency[:, t],
            supply=self._supply_inputs(t),
        )
        self.last_demand = demand.copy()
        return outcome

    def _supply_inputs(self, t: int) -> SupplyInputs | None:
        """Slot ``t``'s supply events (``None`` without a supply model)."""
        if self.supply is None:
            return None
        exo = self.exo
        return SupplyInputs(
            exo["fill"][:, t], exo["lead_time"][:, t], exo["recall"][:, t], self.alt_price[:, t]
        )

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
        col, s, hi = self._drug_col, self.scales, OBS_HIGH
        # each dynamic feature: its value (>= 0 by construction, so only the top is clipped)
        # and the scale it is divided by
        dynamic = {
            "price": (self.price[:, t], s.price),
            "storage_rate": (self.exo["storage_rate"][:, t], s.rate),
            "last_demand": (self.last_demand, s.units),
            "drug_budget": (c.drug_budget[t], s.budget),
            "stock": (level, s.units),
            "expiring": (self.flow.expiring(c.shelf_life), s.units),
        }
        for name in DYNAMIC_DRUG_FEATURES:
            value, scale = dynamic[name]
            drug[..., col[name]] = np.minimum(value * (1.0 / scale), hi)
        glob = obs[:, n * f :]
        g = self._glob_col
        glob[:, g["budget_left"]] = (
            np.clip(c.total_budget - self.flow.spent, 0.0, None) / c.total_budget
            if c.total_budget > 0
            else 0.0
        )
        glob[:, g["storage_used"]] = np.minimum((level @ c.unit_volume) / c.storage_capacity, 1.0)
        glob[:, g["time_left"]] = (c.horizon - self.t) / c.horizon
        if self.supply is not None:
            self._observe_supply(drug)
        if self.mode == "sequential":
            self._observe_sequential(obs, t)
        return obs

    def _observe_supply(self, drug: np.ndarray) -> None:
        """Write a supply model's features into ``drug`` ((B, N, F) view of the observation):
        the pipeline by arrival slot, the last slot's fill and the announced fills."""
        c, col, flow, played = self.config, self._drug_col, self.flow, self.t
        fill = self.exo["fill"]
        for name in self.supply_features:
            kind, _, k = name.rpartition("_")
            if kind == "arriving":
                value = np.minimum(flow.arriving(int(k)) * (1.0 / self.scales.units), OBS_HIGH)
            elif name == "fill_last":
                value = fill[:, played - 1] if played else 1.0
            else:  # fill_ahead_k: announced; after the horizon nothing is ordered (shown 1)
                slot = played + int(k)
                value = fill[:, slot] if slot < c.horizon else 1.0
            drug[..., col[name]] = value

    def _observe_sequential(self, obs: np.ndarray, t: int) -> None:
        """Write the sequential id's extra features into ``obs`` and keep a copy of it for
        :meth:`_observe_decided`."""
        c = self.config
        b, n, f = self.num_envs, c.n_drugs, self.n_drug_features
        drug = obs[:, : n * f].reshape(b, n, f)
        col, hi = self._drug_col, OBS_HIGH
        drug[..., col["pending_order"]] = np.minimum(self.pending * (1.0 / self.scales.units), hi)
        drug[..., col["is_current"]] = 0.0
        if self.t < c.horizon:
            drug[:, c.priority[self.cursor], col["is_current"]] = 1.0
        self._observe_pending_totals(obs, t)
        self._slot_obs = obs.copy()

    def _observe_decided(self, decided: int) -> np.ndarray:
        """The observation after a decision that does not end the slot: nothing is played, so
        only the decided drug's ``pending_order``, the ``is_current`` flag and the pending
        totals change; the slot's observation kept by :meth:`_observe_sequential` is updated
        in place (O(B) instead of the whole O(B * N) observation, same values) and copied out.
        """
        c = self.config
        b, n, f = self.num_envs, c.n_drugs, self.n_drug_features
        obs = self._slot_obs
        drug = obs[:, : n * f].reshape(b, n, f)
        col = self._drug_col
        drug[:, decided, col["pending_order"]] = np.minimum(
            self.pending[:, decided] * (1.0 / self.scales.units), OBS_HIGH
        )
        drug[:, decided, col["is_current"]] = 0.0
        drug[:, c.priority[self.cursor], col["is_current"]] = 1.0
        self._observe_pending_totals(obs, min(self.t, c.horizon - 1))
        return obs.copy()

    def _observe_pending_totals(self, obs: np.ndarray, t: int) -> None:
        """Write the spend and volume requested so far this slot (the sequential id's
        ``pending_spend`` and ``pending_volume``) into ``obs``."""
        c = self.config
        glob = obs[:, c.n_drugs * self.n_drug_features :]
        g, hi = self._glob_col, OBS_HIGH
        spend = (self.pending * self.price[:, t]).sum(axis=-1)
        glob[:, g["pending_spend"]] = (
            np.minimum(spend / c.total_budget, hi) if c.total_budget > 0 else 0.0
        )
        glob[:, g["pending_volume"]] = np.minimum(
            (self.pending @ c.unit_volume) / c.storage_capacity, hi
        )

    def _observe_compiled(self, kernel: Any) -> np.ndarray:
        """:meth:`observe` in one compiled pass (``kernel``:
        :func:`druginv_gym._kernels.observe_kernel` compiled, same formulas)."""
        c = self.config
        t = min(self.t, c.horizon - 1)
        obs = np.empty((self.num_envs, self.obs_dim), dtype=np.float32)
        flow = self.flow
        static, limits = self._kernel_rows
        kernel(
            obs, self._template, self.n_drug_features, self._layout, self.price[:, t],
            self.exo["storage_rate"][:, t], self.last_demand, c.drug_budget[t], flow.arrived,
            flow.left, flow.ring, flow.t, flow.spent, static, limits, self._obs_scales,
            (c.horizon - self.t) / c.horizon, 0, self.num_envs,
        )  # fmt: skip
        if self.supply is not None:
            kernel = dynamics.compiled(_kernels.observe_supply_kernel)
            kernel(
                obs, self.n_drug_features, self._supply_columns, flow.pipeline, flow.t,
                self.exo["fill"], 1.0 / self.scales.units, OBS_HIGH, 0, self.num_envs,
            )  # fmt: skip
        if self.mode == "sequential":
            self._observe_sequential(obs, t)
        return obs

    # ------------------------------------------------------------------ info
    def _pending_info(self, drug: int) -> StepInfo:
        """The report of a sequential decision that does not end the slot: nothing is played
        yet; ``ordered`` holds the units requested so far this slot."""
        return self._unplayed_info(drug, self.pending.copy())

    def reset_info(self) -> StepInfo:
        """The report of a reset: the step's keys and types (Gymnasium's wrappers, Minari and
        TorchRL need one schema), ``stock`` the initial stock, everything else zero; the
        sequential id's ``drug`` is -1 (none decided yet) and ``slot_done`` False."""
        return self.summarise(self._unplayed_info(-1, None))

    def _unplayed_info(self, drug: int, ordered: np.ndarray | None) -> StepInfo:
        """A report with no slot played: ``stock`` the current stock, ``ordered`` (zeros when
        ``None``), every other per-drug array zero; the sequential id's ``drug`` and
        ``slot_done=False``."""
        b, n = self.num_envs, self.config.n_drugs
        rows = {k: np.zeros((b, n)) for k in PER_DRUG_INFO}
        rows["stock"] = self.flow.level
        if ordered is not None:
            rows["ordered"] = ordered
        extra: tuple[tuple[str, np.ndarray], ...] = ()
        if self.mode == "sequential":
            extra = (("drug", np.full(b, drug)), ("slot_done", np.zeros(b, dtype=bool)))
        supply: tuple[tuple[str, np.ndarray], ...] = ()
        zero = np.zeros((b, n))
        if self.supply is not None:
            supply = tuple((k, self.flow.in_transit if k == "pipeline" else zero)
                           for k in SUPPLY_INFO)  # fmt: skip
        if self._substitution:
            supply += tuple((k, zero) for k in SUBSTITUTION_INFO)
        return StepInfo(list(rows.values()), _LIST_PER_DRUG, None, None, self.t, extra, supply)
