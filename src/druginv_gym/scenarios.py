"""Named scenarios: the paper's Table 2 defaults and the documented choices for what it leaves open.

``make_scenario("paper", n_drugs=70, horizon=30)`` is the default of every env id. Static per-drug
parameters (unit volume, price level, shelf life) are drawn once from ``scenario_seed`` so that a
scenario name plus its seed always denotes the same hospital; the per-episode randomness
(demand, prices, premiums, storage rates) comes from the env's seed at ``reset``.

See ``docs/model.md`` (section "Defaults") for the reason behind each number.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from druginv_gym.config import ScenarioConfig
from druginv_gym.exogenous import (
    PriceProcess,
    ReplayDemand,
    SeasonalDemand,
    StorageRateProcess,
    UniformDemand,
)
from druginv_gym.supply import SupplyModel

__all__ = [
    "HELD_OUT_OPTIONS",
    "PAPER_BAND_CALIBRATION",
    "PAPER_CALIBRATION",
    "SCENARIOS",
    "Calibration",
    "atc_groups",
    "held_out_options",
    "hospital_scenario",
    "make_scenario",
    "paper_band_scenario",
    "paper_scenario",
    "pharma_atc_scenario",
    "pharma_scenario",
    "pharma_shortage_scenario",
    "register_scenario",
    "seasonal_scenario",
    "shortage_scenario",
    "shortage_supply",
    "split_name",
]

#: The paper's storage volume (Table 2) for up to 70 drugs, ft^3.
PAPER_STORAGE_FT3 = 40.0
PAPER_N_DRUGS = 70
PAPER_HORIZON = 30


@dataclass(frozen=True)
class Calibration:
    """The values the paper leaves open in the literal reading (scenario ``"paper"``).

    Quantities are multiples of each drug's mean demand ``D`` (units/slot) or price level
    (USD/unit). The defaults, :data:`PAPER_CALIBRATION`, were chosen by
    ``benchmarks/calibrate.py`` to reproduce the paper's reported behaviour of its three
    baselines (shortage rates 4.09 / 4.37 / 3.41 %, unexpected rates near 1.5-1.7 %, cost
    order ski-rental < max-min < over-provisioning), never an agent's result; the reason for
    each is in ``docs/model.md``, "Defaults".

    Attributes:
        lowest: the lowest volume requirement ``C_lo = lowest * D`` (the shortage level).
        capacity: the drug's hard capacity ``C_hi = capacity * D``; or ``"share"``: each drug
            gets the share of the total storage ``V`` proportional to its mean demand volume,
            ``C_hi_i = V * D_i / sum_j(D_j * u_j)``.
        zone_lo, zone_hi: widths of the penalty zones inside the bounds (Fig. 1), ``* D``.
        refill_hi: the refill upper bound ``rho_hi = refill_hi * D``.
        drug_budget: the per-drug budget of a slot, ``* level * D``.
        total_budget: the total budget, ``* sum(level * D) * T`` (the nominal spend).
        shortage_cost: cost per unit of unmet demand, ``* level`` (with the emergency premium
            the premium price ``p0 + beta`` is added).
        shelf_life: the range ``(low, high)`` of the shelf lives drawn per drug (weeks).
        volatility: week-to-week price noise of the base price (``PriceProcess.volatility``).
        premium_mode: ``"exogenous"`` or ``"emergency"`` (``config.PREMIUM_MODES``).
        premium_prob, premium_low, premium_high: the premium process (``PriceProcess``).
        initial_stock: stock at the start, ``* D`` (at most the capacity).
        hard_capacity: ``C_hi`` a hard limit (the literal reading) or only penalised (the band
            reading of :data:`PAPER_BAND_CALIBRATION`).
        draws: how the price and storage processes draw (``"compact"`` or ``"legacy"``,
            :data:`druginv_gym.exogenous.DRAWS`).
    """

    lowest: float = 0.5
    capacity: float | str = "share"
    zone_lo: float = 0.5
    zone_hi: float = 0.45
    refill_hi: float = 4.0
    drug_budget: float = 3.0
    total_budget: float = 1.05
    shortage_cost: float = 0.0
    shelf_life: tuple[int, int] = (8, 52)
    volatility: float = 0.1
    premium_mode: str = "emergency"
    premium_prob: float = 1.0
    premium_low: float = 0.2
    premium_high: float = 0.5
    initial_stock: float = 2.0
    hard_capacity: bool = True
    draws: str = "compact"

    def replace(self, **changes: Any) -> Calibration:
        return dataclasses.replace(self, **changes)


#: The calibration of scenario ``"paper"`` (see :class:`Calibration`).
PAPER_CALIBRATION = Calibration()

#: Scenario ``"paper-band"``, the default before 0.2: a soft band ``[0.5, 3]`` x mean demand
#: without zones, shelf lives U{4..26}, total budget 1.2 x the nominal spend, the exogenous
#: premium on 10 % of drug-slots, shortage cost 1.5 x level, the earlier random draws.
PAPER_BAND_CALIBRATION = Calibration(
    lowest=0.5,
    capacity=3.0,
    zone_lo=0.0,
    zone_hi=0.0,
    total_budget=1.2,
    shortage_cost=1.5,
    shelf_life=(4, 26),
    premium_mode="exogenous",
    premium_prob=0.1,
    hard_capacity=False,
    draws="legacy",
)


def _static_draws(n: int, scenario_seed: int, shelf: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """Unit volume, price level and shelf life per drug, drawn once from ``scenario_seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([20210318, int(scenario_seed)]))
    unit_volume = rng.uniform(0.001, 0.005, size=n)
    price_level = rng.uniform(5.0, 100.0, size=n)
    shelf_life = rng.integers(shelf[0], shelf[1] + 1, size=n)
    return unit_volume, price_level, shelf_life


def _hospital(
    n: int,
    horizon: int,
    scenario_seed: int,
    demand: Any,
    demand_mean: np.ndarray,
    name: str,
    drug_names: tuple[str, ...],
    overrides: dict[str, Any],
    calibration: Calibration,
) -> ScenarioConfig:
    """The paper's hospital around per-drug mean demands ``demand_mean`` (units/slot), the
    open values from ``calibration``: every per-drug default is a multiple of the drug's mean
    demand or of its price level (``docs/model.md``, "Defaults")."""
    k = calibration
    unit_volume, price_level, shelf_life = _static_draws(n, scenario_seed, k.shelf_life)
    d = np.asarray(demand_mean, dtype=np.float64)
    storage = PAPER_STORAGE_FT3 * max(1.0, n / PAPER_N_DRUGS)
    if k.capacity == "share":
        band_hi = storage * d / max(float(d @ unit_volume), 1e-12)
    elif isinstance(k.capacity, str):
        raise ValueError(f"Calibration.capacity = {k.capacity!r} must be a number or 'share'")
    else:
        band_hi = float(k.capacity) * d
    band_lo = np.minimum(k.lowest * d, band_hi)
    zone_lo, zone_hi = k.zone_lo * d, k.zone_hi * d
    knee_lo = band_lo + zone_lo
    # k_lo = level / knee_lo: ending a slot empty costs as much as buying up to the knee.
    penalty_lo = np.divide(price_level, knee_lo, out=np.zeros(n), where=knee_lo > 0)
    nominal_slot_spend = float(np.dot(price_level, d))
    price = PriceProcess(k.volatility, k.premium_prob, k.premium_low, k.premium_high, k.draws)
    defaults: dict[str, Any] = dict(
        horizon=int(horizon),
        unit_volume=unit_volume,
        shelf_life=shelf_life,
        alpha=np.ones(n),
        band_lo=band_lo,
        band_hi=band_hi,
        hard_capacity=k.hard_capacity,
        penalty_zone_lo=zone_lo,
        penalty_zone_hi=zone_hi,
        refill_lo=np.zeros(n),
        refill_hi=k.refill_hi * d,
        drug_budget=k.drug_budget * price_level * d,
        penalty_lo=penalty_lo,
        penalty_hi=0.25 * penalty_lo,
        shortage_cost=k.shortage_cost * price_level,
        initial_stock=np.minimum(k.initial_stock * d, band_hi),
        price_level=price_level,
        demand_mean=d,
        storage_capacity=storage,
        total_budget=k.total_budget * nominal_slot_spend * int(horizon),
        reward_scale=max(nominal_slot_spend, 1e-9),
        demand=demand,
        price=price,
        storage=StorageRateProcess(2.0, 5.0, draws=k.draws),
        premium_mode=k.premium_mode,
        drug_names=drug_names,
        name=name,
    )
    defaults.update(overrides)
    return ScenarioConfig(**defaults)


def _check_n(n_drugs: Any, most: int | None = None) -> int:
    if isinstance(n_drugs, bool) or not isinstance(n_drugs, (int, np.integer)) or n_drugs < 1:
        raise ValueError(f"n_drugs = {n_drugs!r} must be an integer >= 1")
    if most is not None and n_drugs > most:
        raise ValueError(f"n_drugs = {n_drugs!r}: this scenario has at most {most} drugs")
    return int(n_drugs)


def paper_scenario(
    n_drugs: int = PAPER_N_DRUGS,
    horizon: int = PAPER_HORIZON,
    scenario_seed: int = 0,
    calibration: Calibration = PAPER_CALIBRATION,
    **overrides: Any,
) -> ScenarioConfig:
    """The DR2O instance of the paper's Table 2, read literally, the open values calibrated.

    Table 2: unit volume U(0.001, 0.005) ft^3, total storage 40 ft^3, refill (base) price
    U(5, 100) USD/unit, storage cost U(2, 5) USD/ft^3, demand U{5..20} units/slot, T = 30
    weekly slots, 30/50/70 drugs. Eq. 4 read as the paper writes it: ``C_hi_i`` is drug
    ``i``'s storage capacity, a hard limit on its stock, ``C_lo_i`` its lowest volume
    requirement, and the quadratic penalty of Fig. 1 rises as the stock nears either bound.
    Everything the paper leaves open comes from ``calibration`` (:class:`Calibration`, by
    default :data:`PAPER_CALIBRATION`, fitted to the paper's baselines). Storage grows with
    ``n_drugs`` beyond 70 drugs (40 ft^3 per 70 drugs) so that larger instances stay feasible.

    Args:
        n_drugs: number of drugs N (>= 1).
        horizon: number of weekly slots T (>= 1).
        scenario_seed: seed of the static per-drug draws.
        calibration: the open values.
        **overrides: any :class:`ScenarioConfig` field, replacing the default.
    """
    return _table2(n_drugs, horizon, scenario_seed, "paper", overrides, calibration)


def paper_band_scenario(
    n_drugs: int = PAPER_N_DRUGS,
    horizon: int = PAPER_HORIZON,
    scenario_seed: int = 0,
    **overrides: Any,
) -> ScenarioConfig:
    """Scenario ``"paper"`` of versions before 0.2, unchanged: the band reading.

    The same Table 2 values, with a soft band ``[0.5, 3]`` x mean demand penalised outside
    (no per-drug capacity), shelf life U{4..26} weeks, refill bounds ``[0, 4]`` x mean demand,
    per-drug budget 3 x level x mean demand per slot, total budget 1.2 x the nominal spend,
    ``k_lo = level / band_lo``, ``k_hi = k_lo / 4``, shortage cost 1.5 x level, initial stock
    2 x mean demand, the exogenous premium, and the earlier random draws (``draws="legacy"``):
    every trace and result published before 0.2 comes back.
    """
    return _table2(n_drugs, horizon, scenario_seed, "paper-band", overrides, PAPER_BAND_CALIBRATION)


def _table2(
    n_drugs: Any,
    horizon: int,
    scenario_seed: int,
    name: str,
    overrides: dict[str, Any],
    calibration: Calibration,
) -> ScenarioConfig:
    """The hospital of Table 2 with its uniform demand, named ``<name>-<N>``."""
    n = _check_n(n_drugs)
    draws = calibration.draws
    demand = overrides.pop("demand", UniformDemand(5.0, 20.0, integer=True, draws=draws))
    mean = getattr(demand, "mean", 12.5)
    return _hospital(
        n,
        horizon,
        scenario_seed,
        demand,
        np.full(n, float(np.mean(mean))),
        overrides.pop("name", f"{name}-{n}"),
        overrides.pop("drug_names", tuple(f"drug{i:03d}" for i in range(n))),
        overrides,
        calibration,
    )


def seasonal_scenario(
    n_drugs: int = PAPER_N_DRUGS,
    horizon: int = 52,
    scenario_seed: int = 0,
    **overrides: Any,
) -> ScenarioConfig:
    """The paper's hospital with seasonal, trending, shock-prone Poisson demand.

    Same static parameters as :func:`paper_scenario`; demand follows
    :class:`~druginv_gym.exogenous.SeasonalDemand` with mean 12.5 units/slot, a 30 % yearly
    swing, +0.2 %/slot trend and 2 % outbreak weeks at twice the mean; one year by default.
    """
    demand = overrides.pop(
        "demand", SeasonalDemand(mean=12.5, amplitude=0.3, period=52, trend=0.002)
    )
    overrides.setdefault("name", f"seasonal-{_check_n(n_drugs)}")
    return paper_scenario(n_drugs, horizon, scenario_seed, demand=demand, **overrides)


def pharma_scenario(
    n_drugs: int = 8,
    horizon: int = PAPER_HORIZON,
    scenario_seed: int = 0,
    split: str = "train",
    split_date: str = "2018-06-01",
    units: str = "paper",
    calibration: Calibration = PAPER_CALIBRATION,
    **overrides: Any,
) -> ScenarioConfig:
    """The paper's hospital with real weekly demand: the "Pharma sales data" set replayed.

    One drug per ATC group (M01AB, M01AE, N02BA, N02BE, N05B, N05C, R03, R06; ``n_drugs`` <= 8
    takes the first ``n_drugs``). Each episode replays ``horizon`` consecutive real weeks
    starting at a random week of ``split``: ``"train"`` (weeks before ``split_date``,
    2014-01-12 to 2018-05-27 by default, 229 weeks), ``"test"`` (from ``split_date`` on, 70
    weeks) or ``"all"``.

    ``units="paper"`` (default) scales each group's series so that its mean over the train
    weeks is 12.5 units/slot, the paper's mean demand, keeping the real shape (seasonality,
    trend, shocks) and relative variability; ``units="raw"`` replays units sold as recorded
    (means from 4 to 209 units/week). Band, refill bounds, budgets and initial stock follow
    each drug's train-weeks mean demand as in :func:`paper_scenario` (``calibration``).
    """
    from druginv_gym.data import ATC_GROUPS

    n = _check_n(n_drugs, most=len(ATC_GROUPS))
    columns = ATC_GROUPS[:n]
    if units not in ("paper", "raw"):
        raise ValueError(f"units = {units!r}; expected 'paper' or 'raw'")
    train = ReplayDemand(columns, "train", split_date).series
    train_mean = train.mean(axis=0)
    if units == "paper":
        scale = 12.5 / np.maximum(train_mean, 1e-9)
        mean = np.full(n, 12.5)
    else:
        scale = np.ones(n)
        mean = train_mean
    demand = overrides.pop("demand", ReplayDemand(columns, split, split_date, tuple(scale)))
    return _hospital(
        n,
        horizon,
        scenario_seed,
        demand,
        mean,
        overrides.pop("name", f"pharma-{split}"),
        overrides.pop("drug_names", columns),
        overrides,
        calibration,
    )


#: Suppliers of scenario ``"shortage"``: drug ``i`` is bought from supplier ``i % 5``.
SHORTAGE_SUPPLIERS = 5


def shortage_supply(n_drugs: int, announce: int = 0) -> SupplyModel:
    """The supply model of scenarios ``"shortage"`` and ``"pharma-shortage"``.

    Each value, with its reason or source (``docs/scenarios.md``, "shortage"):

    * ``lead_time=1``: a weekly order arrives the next week (our choice for weekly slots:
      wholesalers deliver within days, so one slot is the shortest lead time that is not 0);
      ``delay_prob=0.1``, ``max_delay=2``: one order in ten is one or two weeks late (ours).
    * five suppliers, drug ``i`` from supplier ``i % 5``: a formulary bought from a handful of
      manufacturers, so one outage hits many drugs at once (ours).
    * ``mean_duration=15.4`` weeks: the mean duration of the 2,400 hospital drug shortages
      of 2006-2010 in three regions of Quebec, 108 days (a descriptive study of shortages in
      relation to all hospital supply contracts of Montreal, Laval and the Eastern Townships).
    * ``mean_time_between=104`` weeks: a supplier is out about once in two years, 13 % of the
      time at the chain's stationary law (ours: the sources count shortages, not the share of
      a hospital's suppliers out at once).
    * ``outage_fill=0.25``: an order placed during an outage is filled to a quarter, the
      allocation a manufacturer on back-order gives its customers (ours).
    * ``recall_rate=0.001`` per drug and week: a drug is recalled about once in 20 years
      (ours, an order of magnitude).
    * ``alt_fill=0.5``, ``alt_markup=7.5``: half the unmet demand can be bought elsewhere at
      7.5 times the base price, the average gray-market mark-up of 650 % on shortage drugs in
      "Buyer Beware: Drug Shortages and the Gray Market" (Premier healthcare alliance, 2011).
    * ``announce``: 0 (outages are seen when they hit) by default; ``make_scenario("shortage",
      announce=8)`` shows each outage eight weeks ahead.
    """
    return SupplyModel(
        lead_time=1,
        delay_prob=0.1,
        max_delay=2,
        supplier=np.arange(n_drugs) % SHORTAGE_SUPPLIERS,
        mean_time_between=104.0,
        mean_duration=15.4,
        outage_fill=0.25,
        announce=announce,
        recall_rate=0.001,
        alt_fill=0.5,
        alt_markup=7.5,
    )


#: The shortage cost of scenario ``"shortage"``: a unit of demand that neither the stock nor
#: the alternative source can serve costs 20 times its price level (on top of the paper's
#: emergency premium price): 27 % of the gray-market offers in "Buyer Beware" asked at least
#: 20 times the normal price, so a dose the hospital cannot get at all is taken to cost at
#: least what it would pay at the dear end of that market.
SHORTAGE_COST = 20.0


def shortage_scenario(
    n_drugs: int = PAPER_N_DRUGS,
    horizon: int = 52,
    scenario_seed: int = 0,
    announce: int = 0,
    **overrides: Any,
) -> ScenarioConfig:
    """The paper's hospital with the supply side of real shortages (:func:`shortage_supply`):
    lead times, five suppliers with outages, recalls and a gray-market alternative source, a
    lost unit at :data:`SHORTAGE_COST` times its price level; one year of weeks by default.

    Everything else is scenario ``"paper"`` (its uniform demand, bands and budgets).
    ``announce``: weeks ahead an outage is shown (0: not before it hits).
    """
    n = _check_n(n_drugs)
    overrides.setdefault("supply", shortage_supply(n, announce))
    overrides.setdefault("name", f"shortage-{n}")
    calibration = PAPER_CALIBRATION.replace(shortage_cost=SHORTAGE_COST)
    return paper_scenario(n, horizon, scenario_seed, calibration, **overrides)


def pharma_shortage_scenario(
    n_drugs: int = 8,
    horizon: int = PAPER_HORIZON,
    scenario_seed: int = 0,
    split: str = "train",
    announce: int = 0,
    **overrides: Any,
) -> ScenarioConfig:
    """Scenario ``"pharma"`` (real weekly demand) with the supply model of ``"shortage"``
    and its shortage cost; trained on the weeks before the split date, evaluated after."""
    n = _check_n(n_drugs)
    overrides.setdefault("supply", shortage_supply(n, announce))
    overrides.setdefault("name", f"pharma-shortage-{split}")
    calibration = PAPER_CALIBRATION.replace(shortage_cost=SHORTAGE_COST)
    return pharma_scenario(n, horizon, scenario_seed, split, calibration=calibration, **overrides)


#: The criticality classes of scenario ``"hospital"``, drawn per drug with these shares (ours,
#: of the order the ABC-VEN analyses of hospital medical stores report: a small vital class,
#: about half essential, the rest non-essential).
HOSPITAL_VEN_SHARES = {"V": 0.15, "E": 0.55, "N": 0.30}
#: The factor on each class's shortage cost (ours: the literature gives no money value of a
#: missed vital dose; a vital unit lost costs three times an essential one, a non-essential one
#: half).
HOSPITAL_SHORTAGE_WEIGHT = {"V": 3.0, "E": 1.0, "N": 0.5}
#: The fill-rate targets of each class (the vital drugs' 99 % and the essential ones' 95 % of
#: the issue that asked for service levels; a data-driven hospital inventory study set 90-92 %
#: for its whole formulary). Non-essential drugs have none.
HOSPITAL_SERVICE_LEVEL = {"V": 0.99, "E": 0.95}
#: Drugs per therapeutic substitution group of scenario ``"hospital"`` and the share of drugs
#: that have no substitute (ours).
HOSPITAL_GROUP_SIZE = 5
HOSPITAL_NO_SUBSTITUTE = 0.3
#: A substitution's cost per unit of demand served, as a multiple of the recipient's price level
#: (ours: a pharmacist's review and the switch of regimen; dearer than buying the drug itself,
#: far cheaper than a lost dose).
HOSPITAL_SUBSTITUTION_COST = 0.5
#: The spread ``sigma`` of the log-normal mean demands of scenario ``"hospital"`` (ours): with
#: the paper's U(5, 100) prices, 25-29 % of 100 drugs are class A (scenario seeds 0-1), taking
#: 80 % of the spend; ABC analyses of hospital stores find 10-20 %, which would need mean
#: demands below a unit a year for the slowest drugs. Means range from 0.1 to 170 units/week.
HOSPITAL_DEMAND_SIGMA = 1.5


def hospital_scenario(
    n_drugs: int = 100,
    horizon: int = 52,
    scenario_seed: int = 0,
    announce: int = 0,
    **overrides: Any,
) -> ScenarioConfig:
    """A hospital formulary: criticality classes, service levels, substitution and shortages.

    Each value, with its reason (``docs/scenarios.md``, "hospital"):

    * the paper's hospital (:func:`paper_scenario`'s static draws and calibration) with the
      supply model and shortage cost of ``"shortage"`` (:func:`shortage_supply`,
      :data:`SHORTAGE_COST`); one year of weeks; 100 drugs by default (70-300 is the size of
      the formularies this scenario stands for);
    * demand: Poisson around a seasonal mean (:class:`SeasonalDemand`, the ``seasonal``
      scenario's swing and shocks, no trend), each drug's mean drawn log-normal around the
      paper's 12.5 units/week (:data:`HOSPITAL_DEMAND_SIGMA`): spend is concentrated as in a
      real formulary;
    * criticality drawn per drug (:data:`HOSPITAL_VEN_SHARES`), independent of spend; shortage
      weights :data:`HOSPITAL_SHORTAGE_WEIGHT`, service levels :data:`HOSPITAL_SERVICE_LEVEL`
      (:func:`druginv_gym.classify.with_classes`); the sequential id decides vital drugs first;
    * substitution groups of :data:`HOSPITAL_GROUP_SIZE` drugs,
      :data:`HOSPITAL_NO_SUBSTITUTE` of the drugs without a substitute, dose ratio 1,
      cost :data:`HOSPITAL_SUBSTITUTION_COST` x the recipient's price level.

    ``announce``: weeks ahead an outage is shown (as ``"shortage"``).
    """
    from druginv_gym.classify import with_classes
    from druginv_gym.substitution import Substitution

    n = _check_n(n_drugs)
    rng = np.random.default_rng(np.random.SeedSequence([20210318, int(scenario_seed), 19]))
    sigma = HOSPITAL_DEMAND_SIGMA
    mean = 12.5 * np.exp(sigma * rng.standard_normal(n) - 0.5 * sigma**2)
    labels = rng.choice(
        list(HOSPITAL_VEN_SHARES), size=n, p=list(HOSPITAL_VEN_SHARES.values())
    ).tolist()
    group = np.arange(n) // HOSPITAL_GROUP_SIZE
    group[rng.random(n) < HOSPITAL_NO_SUBSTITUTE] = -1
    calibration = PAPER_CALIBRATION.replace(shortage_cost=SHORTAGE_COST)
    demand = overrides.pop("demand", SeasonalDemand(mean=tuple(mean), amplitude=0.3, period=52))
    supply = overrides.pop("supply", shortage_supply(n, announce))
    config = _hospital(
        n, horizon, scenario_seed, demand, mean, overrides.pop("name", f"hospital-{n}"),
        overrides.pop("drug_names", tuple(f"drug{i:03d}" for i in range(n))),
        {"supply": supply}, calibration,
    )  # fmt: skip
    config = with_classes(
        config, labels, shortage_weight=HOSPITAL_SHORTAGE_WEIGHT,
        service_level=HOSPITAL_SERVICE_LEVEL,
    )  # fmt: skip
    overrides.setdefault(
        "substitution",
        Substitution(group, cost=HOSPITAL_SUBSTITUTION_COST * config.price_level),
    )
    return config.replace(**overrides)


def atc_groups(columns: tuple[str, ...]) -> np.ndarray:
    """``(N,)`` substitution group of each ATC column: the index of its four-character ATC
    subgroup among those shared by two columns or more, ``-1`` for the others.

    For the pharmacy sales data (scenario ``"pharma-atc"``): M01A (M01AB, M01AE:
    non-steroidal anti-inflammatories) and N02B (N02BA, N02BE: other analgesics and
    antipyretics); N05B (anxiolytics), N05C (hypnotics), R03 and R06 have no substitute among
    the eight."""
    codes = [c[:4] for c in columns]
    shared = sorted({c for c in codes if codes.count(c) > 1})
    return np.array([shared.index(c) if c in shared else -1 for c in codes], dtype=np.int64)


def pharma_atc_scenario(
    n_drugs: int = 8,
    horizon: int = PAPER_HORIZON,
    scenario_seed: int = 0,
    split: str = "train",
    **overrides: Any,
) -> ScenarioConfig:
    """Scenario ``"pharma"`` (real weekly demand) with classes and substitution: each ATC
    group's VEN class (:data:`druginv_gym.classify.PHARMA_VEN`), the shortage weights and
    service levels of ``"hospital"``, and the groups of one ATC pharmacological subgroup as
    substitution groups (:func:`atc_groups`), at ``"hospital"``'s substitution cost."""
    from druginv_gym.classify import PHARMA_VEN, with_classes
    from druginv_gym.substitution import Substitution

    config = pharma_scenario(
        n_drugs, horizon, scenario_seed, split,
        name=overrides.pop("name", f"pharma-atc-{split}"),
    )  # fmt: skip
    columns = config.drug_names
    config = with_classes(
        config, [PHARMA_VEN[c] for c in columns], shortage_weight=HOSPITAL_SHORTAGE_WEIGHT,
        service_level=HOSPITAL_SERVICE_LEVEL,
    )  # fmt: skip
    overrides.setdefault(
        "substitution",
        Substitution(atc_groups(columns), cost=HOSPITAL_SUBSTITUTION_COST * config.price_level),
    )
    return config.replace(**overrides)


ScenarioFactory = Callable[..., ScenarioConfig]

#: Scenario name -> factory taking ``(n_drugs=..., horizon=..., scenario_seed=..., **overrides)``.
SCENARIOS: dict[str, ScenarioFactory] = {
    "paper": paper_scenario,
    "paper-band": paper_band_scenario,
    "seasonal": seasonal_scenario,
    "pharma": pharma_scenario,
    "shortage": shortage_scenario,
    "pharma-shortage": pharma_shortage_scenario,
    "hospital": hospital_scenario,
    "pharma-atc": pharma_atc_scenario,
}


#: Scenario name -> the options that select its held-out data, for scenarios whose default
#: episodes are training data: ``pharma`` trains on the weeks before its split date (its
#: default) and is evaluated on the weeks after (``split="test"``). ``druginv benchmark`` and
#: ``druginv evaluate`` play evaluation episodes with these options and tune on the default.
HELD_OUT_OPTIONS: dict[str, dict[str, Any]] = {
    "pharma": {"split": "test"},
    "pharma-shortage": {"split": "test"},
    "pharma-atc": {"split": "test"},
}


def split_name(name: str) -> tuple[str, int | None]:
    """``("paper", 50)`` for ``"paper-50"``: a registered scenario and the number of drugs its
    numeric suffix sets; ``(name, None)`` for a name without one (``"paper-band"``)."""
    base, _, suffix = name.rpartition("-")
    if base in SCENARIOS and suffix.isdigit():
        return base, int(suffix)
    return name, None


def held_out_options(name: str) -> dict[str, Any]:
    """The options of :data:`HELD_OUT_OPTIONS` for scenario ``name`` (``"pharma-8"`` reads
    as ``pharma``); ``{}`` for a scenario whose held-out episodes are other seeds only."""
    return dict(HELD_OUT_OPTIONS.get(split_name(name)[0], {}))


def register_scenario(
    name: str,
    factory: ScenarioFactory,
    *,
    overwrite: bool = False,
    held_out: dict[str, Any] | None = None,
) -> None:
    """Make ``factory`` available to ``make_scenario(name)`` and ``gym.make(scenario=name)``.

    ``held_out``: options of ``factory`` that select held-out data for evaluation (as
    ``{"split": "test"}`` for ``pharma``), recorded in :data:`HELD_OUT_OPTIONS`.
    """
    if name in SCENARIOS and not overwrite:
        raise ValueError(f"scenario {name!r} is already registered (pass overwrite=True)")
    SCENARIOS[name] = factory
    HELD_OUT_OPTIONS.pop(name, None)
    if held_out:
        HELD_OUT_OPTIONS[name] = dict(held_out)


def make_scenario(
    name: str = "paper",
    n_drugs: int | None = None,
    horizon: int | None = None,
    scenario_seed: int = 0,
    **overrides: Any,
) -> ScenarioConfig:
    """Build a registered scenario by name (``"paper"``, ``"paper-30"``, ``"seasonal"``, ...).

    A numeric suffix sets the number of drugs: ``"paper-50"`` is ``paper`` with 50 drugs.
    ``n_drugs``/``horizon`` left as ``None`` keep the scenario's defaults.
    """
    if not isinstance(name, str):
        raise ValueError(f"scenario = {name!r} must be a string; known: {sorted(SCENARIOS)}")
    base, fixed = split_name(name)
    if fixed is not None:
        if n_drugs is not None and n_drugs != fixed:
            raise ValueError(f"scenario = {name!r} fixes {fixed} drugs but n_drugs = {n_drugs!r}")
        name, n_drugs = base, fixed
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario = {name!r}; known: {sorted(SCENARIOS)}")
    kw: dict[str, Any] = dict(overrides, scenario_seed=scenario_seed)
    if n_drugs is not None:
        kw["n_drugs"] = n_drugs
    if horizon is not None:
        kw["horizon"] = horizon
    try:
        return SCENARIOS[name](**kw)
    except TypeError as exc:  # an option the factory does not take
        raise TypeError(f"scenario {name!r}: {exc}") from None
