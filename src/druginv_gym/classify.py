"""Not every drug is equal: ABC by share of spend, VEN (or CVA) criticality, and their matrix.

Hospital pharmacies classify their formulary two ways and cross them:

* **ABC** (:func:`abc_classes`): drugs sorted by spend, largest first; ``A`` while the spend
  of the drugs before it is below the first cut-off (80 % by default), ``B`` below the second
  (95 %), ``C`` for the rest: a few ``A`` drugs take most of the money.
* **Criticality**, given per drug: VEN (``V`` vital: a stockout endangers life; ``E``
  essential; ``N`` non-essential, easily replaced) or CVA (``C`` critical, stockouts strictly
  prohibited; ``V`` vital, limited stockouts allowed; ``A`` acceptable), mapped onto VEN's
  three levels in that order (:func:`as_ven`).
* **The ABC-VEN matrix** (:data:`ABC_VEN_CATEGORY`): category I (``AV BV CV AE AN``: the
  drugs that need the closest control, by money or by criticality), II (``BE CE BN``), III
  (``CN``), the matrix of the ABC-VEN analyses of hospital pharmacy stores.

:func:`classify` applies them to a scenario (its nominal spend) or to any spend vector and
returns one row per drug; :func:`pareto_figure` draws the Pareto curve of spend with the
classes; :func:`with_classes` writes per-class shortage weights, purchase weights
``alpha_i`` and service levels into a scenario's per-drug arrays; :func:`pharma_sales_table`
classifies the shipped pharmacy sales data (the 8 ATC groups).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from druginv_gym._checks import fail
from druginv_gym.config import CRITICALITY, CRITICALITY_NAMES, ScenarioConfig

__all__ = [
    "ABC_VEN_CATEGORY",
    "CLASS_COLOURS",
    "CVA",
    "PHARMA_VEN",
    "VEN",
    "abc_classes",
    "as_ven",
    "classify",
    "pareto_figure",
    "pharma_sales_table",
    "with_classes",
]

#: VEN's classes, most critical first (the classes of ``ScenarioConfig.criticality``).
VEN = CRITICALITY
#: CVA's classes, most critical first: critical, vital, acceptable.
CVA = ("C", "V", "A")

#: The ABC-VEN matrix: the category (I, II, III) of each pair of an ABC and a VEN class.
ABC_VEN_CATEGORY: Mapping[str, str] = {
    "AV": "I", "BV": "I", "CV": "I", "AE": "I", "AN": "I",
    "BE": "II", "CE": "II", "BN": "II",
    "CN": "III",
}  # fmt: skip

#: The VEN class of each ATC group of the pharmacy sales data (``druginv_gym.data``), this
#: project's reading (change it to your own formulary's):
#: ``V`` R03 (relievers of obstructive airway disease: an acute asthma attack cannot wait);
#: ``E`` the groups whose common drug is on the WHO Model List of Essential Medicines:
#: N02BE (paracetamol), N02BA (acetylsalicylic acid), M01AE (ibuprofen), N05B (diazepam),
#: R06 (loratadine); ``N`` M01AB (acetic-acid NSAIDs such as diclofenac, for which M01AE
#: stands in) and N05C (hypnotics and sedatives).
PHARMA_VEN: Mapping[str, str] = {
    "M01AB": "N", "M01AE": "E", "N02BA": "E", "N02BE": "E",
    "N05B": "E", "N05C": "N", "R03": "V", "R06": "E",
}  # fmt: skip


#: The colour of each VEN class in every figure of the project.
CLASS_COLOURS: Mapping[str, str] = {"V": "#c0392b", "E": "#e67e22", "N": "#7f8c8d"}


def abc_classes(spend: Any, cutoffs: tuple[float, float] = (0.8, 0.95)) -> np.ndarray:
    """``(N,)`` ABC class of each drug (``"A"``, ``"B"``, ``"C"``) by share of ``spend``.

    Drugs are sorted by spend, largest first (ties keep their order); a drug is ``A`` while
    the share of the spend of the drugs before it is below ``cutoffs[0]``, ``B`` while it is
    below ``cutoffs[1]``, else ``C``. The drug that crosses a cut-off is in the class below it,
    so the top drug is always ``A``. ``ValueError`` for a negative or non-finite spend, an
    all-zero spend, or cut-offs outside ``0 < a <= b <= 1``.
    """
    s = np.asarray(spend, dtype=np.float64)
    if s.ndim != 1 or len(s) == 0:
        raise ValueError(f"spend has shape {s.shape}; expected a non-empty (N,) vector")
    if not np.isfinite(s).all() or (s < 0).any():
        i = int(np.argmax(~np.isfinite(s) | (s < 0)))
        fail("spend", i, s[i], "must be finite and >= 0")
    if s.sum() <= 0:
        raise ValueError("spend sums to 0: ABC needs some spend")
    a, b = _check_cutoffs(cutoffs)
    order = np.argsort(-s, kind="stable")
    before = np.concatenate([[0.0], np.cumsum(s[order])[:-1]]) / s.sum()
    ranked = np.where(before < a - 1e-12, "A", np.where(before < b - 1e-12, "B", "C"))
    out = np.empty(len(s), dtype="<U1")
    out[order] = ranked
    return out


def _check_cutoffs(cutoffs: Any) -> tuple[float, float]:
    try:
        a, b = (float(c) for c in cutoffs)
    except (TypeError, ValueError):
        raise ValueError(f"cutoffs = {cutoffs!r} must be two shares (a, b)") from None
    if not (0 < a <= b <= 1):
        raise ValueError(f"cutoffs = {cutoffs!r} must satisfy 0 < a <= b <= 1")
    return a, b


def as_ven(labels: Sequence[str], scheme: str = "VEN") -> tuple[str, ...]:
    """Criticality labels as VEN classes: ``scheme="VEN"`` checks them, ``"CVA"`` maps
    critical, vital, acceptable onto vital, essential, non-essential. ``ValueError`` names a
    label that is not of the scheme."""
    schemes = {"VEN": VEN, "CVA": CVA}
    if scheme not in schemes:
        raise ValueError(f"scheme = {scheme!r} is not one of {list(schemes)}")
    classes = schemes[scheme]
    out = []
    for i, label in enumerate(labels):
        if label not in classes:
            raise ValueError(f"criticality[{i}] = {label!r} is not a {scheme} class {classes}")
        out.append(VEN[classes.index(label)])
    return tuple(out)


def classify(
    config: ScenarioConfig | None = None,
    *,
    spend: Any = None,
    criticality: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    cutoffs: tuple[float, float] = (0.8, 0.95),
    scheme: str = "VEN",
) -> pd.DataFrame:
    """One row per drug: its spend, share, cumulative share, ABC class, criticality and
    ABC-VEN category, sorted by spend (largest first).

    Args:
        config: a scenario; its spend is the nominal one over the horizon, ``price_level *
            demand_mean * horizon`` (USD), its criticality ``config.criticality`` and its
            names ``config.drug_names``, unless given.
        spend: ``(N,)`` spend per drug instead (any unit: only shares count).
        criticality: ``(N,)`` class labels of ``scheme`` (``None``: the config's; the
            ``criticality`` and ``category`` columns are empty without any).
        names: drug names (default: the config's, else ``drug0``, ``drug1``, ...).
        cutoffs: the ABC cut-offs on the cumulative share (:func:`abc_classes`).
        scheme: ``"VEN"`` or ``"CVA"`` (mapped onto VEN, :func:`as_ven`).
    """
    if spend is None:
        if config is None:
            raise ValueError("classify needs a config or a spend vector")
        spend = config.price_level * config.demand_mean * config.horizon
    s = np.asarray(spend, dtype=np.float64)
    abc = abc_classes(s, cutoffs)
    n = len(s)
    if names is None:
        names = config.drug_names if config is not None else [f"drug{i}" for i in range(n)]
    if len(names) != n:
        raise ValueError(f"names has {len(names)} entries for {n} drugs")
    if criticality is None and config is not None:
        criticality = config.criticality
    ven = None if criticality is None else as_ven(criticality, scheme)
    if ven is not None and len(ven) != n:
        raise ValueError(f"criticality has {len(ven)} entries for {n} drugs")
    table = pd.DataFrame(
        {
            "drug": list(names),
            "spend": s,
            "share": s / s.sum(),
            "abc": abc,
            "criticality": list(ven) if ven is not None else [""] * n,
        }
    )
    table["category"] = [
        ABC_VEN_CATEGORY.get(a + v, "") for a, v in zip(table.abc, table.criticality, strict=True)
    ]
    table = table.sort_values("spend", ascending=False, kind="stable").reset_index(drop=True)
    table.insert(3, "cumulative", table.share.cumsum())
    return table


def with_classes(
    config: ScenarioConfig,
    criticality: Sequence[str],
    *,
    shortage_weight: Mapping[str, float] | None = None,
    alpha: Mapping[str, float] | None = None,
    service_level: Mapping[str, float] | None = None,
    scheme: str = "VEN",
) -> ScenarioConfig:
    """``config`` with criticality classes and their weights written into its arrays.

    Args:
        criticality: ``(N,)`` class labels of ``scheme``.
        shortage_weight: class -> factor on the drug's ``shortage_cost`` (missing classes: 1).
        alpha: class -> the purchase weight ``alpha_i`` (eq. 3) of its drugs (missing: kept).
        service_level: class -> the class's fill-rate target (missing: kept).
        scheme: ``"VEN"`` or ``"CVA"``; the mappings' keys are of the same scheme.

    The sequential id's ``priority`` is recomputed from the classes (vital first); pass
    ``priority`` to :meth:`ScenarioConfig.replace` afterwards to fix another order.
    """
    ven = as_ven(criticality, scheme)
    if len(ven) != config.n_drugs:
        raise ValueError(f"criticality has {len(ven)} entries for {config.n_drugs} drugs")
    classes = VEN if scheme == "VEN" else CVA

    def per_drug(mapping: Mapping[str, float] | None, name: str, base: np.ndarray) -> np.ndarray:
        out = np.array(base, dtype=np.float64, copy=True)
        for label, value in (mapping or {}).items():
            if label not in classes:
                raise ValueError(f"{name} has class {label!r}, not a {scheme} class {classes}")
            out[np.array(ven) == VEN[classes.index(label)]] = float(value)
        return out

    weights = per_drug(shortage_weight, "shortage_weight", np.ones(config.n_drugs))
    return config.replace(
        criticality=ven,
        shortage_cost=config.shortage_cost * weights,
        alpha=per_drug(alpha, "alpha", config.alpha),
        service_level=_class_keys(service_level, config.service_level, classes, scheme),
        priority=None,
    )


def _class_keys(
    mapping: Mapping[str, float] | None, base: Mapping[str, float], classes: tuple, scheme: str
) -> dict[str, float]:
    """``base`` updated with ``mapping``, its keys of ``scheme`` mapped onto VEN's."""
    out = dict(base)
    for label, value in (mapping or {}).items():
        if label not in classes:
            raise ValueError(f"service_level has class {label!r}, not a {scheme} class {classes}")
        out[VEN[classes.index(label)]] = float(value)
    return out


def pharma_sales_table(
    criticality: Mapping[str, str] | None = None,
    cutoffs: tuple[float, float] = (0.8, 0.95),
    prices: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """:func:`classify` of the shipped pharmacy sales data: its 8 ATC groups by share of the
    units sold over all its weeks (the data has no prices: pass ``prices``, USD per unit per
    group, to classify by spend), with their VEN classes (:data:`PHARMA_VEN` by default)."""
    from druginv_gym.data import ATC_GROUPS, load_pharma_sales

    sales = load_pharma_sales("weekly")[list(ATC_GROUPS)].sum(axis=0).to_numpy()
    if prices is not None:
        missing = [g for g in ATC_GROUPS if g not in prices]
        if missing:
            raise ValueError(f"prices has no price for {missing}")
        sales = sales * np.array([float(prices[g]) for g in ATC_GROUPS])
    ven = criticality if criticality is not None else PHARMA_VEN
    return classify(
        spend=sales,
        criticality=[ven[g] for g in ATC_GROUPS],
        names=list(ATC_GROUPS),
        cutoffs=cutoffs,
    )


def pareto_figure(
    table: pd.DataFrame, path: str | Path, title: str = "", measure: str = "spend"
) -> Path:
    """The Pareto curve of a :func:`classify` table: each drug's share (bars, coloured by its
    criticality) and the cumulative share (line) with the ABC cut-offs; written to ``path``
    (PNG or any format matplotlib knows, atomically); ``measure`` names what the shares are
    of (``"units sold"`` for :func:`pharma_sales_table`). Needs matplotlib (the ``bench``
    extra)."""
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "pareto_figure needs matplotlib: pip install 'druginv-gym[bench]'"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from druginv_gym.io import atomic_write

    colours = {**CLASS_COLOURS, "": "#34495e"}
    x = np.arange(1, len(table) + 1)
    fig, ax = plt.subplots(figsize=(max(6.0, min(0.12 * len(table), 14.0)), 4.0))
    ax.bar(x, 100 * table.share, color=[colours[c] for c in table.criticality], width=0.85)
    ax.set_xlabel(f"drugs, largest {measure} first")
    ax.set_ylabel(f"share of {measure} (%)")
    twin = ax.twinx()
    twin.plot(x, 100 * table.cumulative, color="black", lw=1.5, marker="." if len(x) < 40 else None)
    twin.set_ylabel("cumulative share (%)")
    twin.set_ylim(0, 101)
    for label in ("A", "B"):
        last = np.flatnonzero(table.abc.to_numpy() == label)
        if len(last):
            edge = last[-1] + 1.5
            ax.axvline(edge, color="grey", ls="--", lw=0.8)
    for label in ("A", "B", "C"):
        at = np.flatnonzero(table.abc.to_numpy() == label)
        if len(at):
            ax.text(x[at].mean(), 1.01, label, ha="center", va="bottom",
                    transform=ax.get_xaxis_transform())  # fmt: skip
    if len(x) <= 20:
        ax.set_xticks(x, table.drug, rotation=45, ha="right")
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=colours[c]) for c in VEN if c in set(table.criticality)
    ]
    if handles:
        present = [c for c in VEN if c in set(table.criticality)]
        ax.legend(
            handles, [CRITICALITY_NAMES[c] for c in present], loc="center right", frameon=False
        )
    ax.set_title(title or f"ABC analysis: share of {measure} by drug", pad=16)
    fig.tight_layout()
    path = Path(path)
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format=path.suffix[1:] or "png"))
    finally:
        plt.close(fig)
    return path
