"""Real pharmacy demand shipped with the package: the "Pharma sales data" set (see SOURCE.md).

``load_pharma_sales("weekly")`` returns units sold per week of eight ATC drug groups,
2014-01-12 to 2019-09-29 (299 full weeks), as a DataFrame with a DatetimeIndex; ``"daily"``
returns the daily series (2014-01-02 to 2019-10-08).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["ATC_GROUPS", "load_pharma_sales", "read_sales_csv"]

#: The eight ATC groups, the columns of every frame returned here.
ATC_GROUPS = ("M01AB", "M01AE", "N02BA", "N02BE", "N05B", "N05C", "R03", "R06")


def read_sales_csv(path: str | Path, sep: str = ",") -> pd.DataFrame:
    """Read and validate a sales file: a ``datum`` column (M/D/YYYY) and the eight groups.

    Raises ``ValueError`` naming the file and the problem: missing columns, an empty file,
    unparseable or non-increasing dates, negative or non-numeric sales.
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, sep=sep)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path.name}: the file is empty") from None
    missing = [c for c in ("datum", *ATC_GROUPS) if c not in raw.columns]
    if missing:
        raise ValueError(f"{path.name}: missing columns {missing}")
    if raw.empty:
        raise ValueError(f"{path.name}: no rows")
    dates = pd.to_datetime(raw["datum"], format="%m/%d/%Y", errors="coerce")
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna())[0])
        raise ValueError(
            f"{path.name}: row {row} has datum = {raw['datum'].iloc[row]!r}, not M/D/YYYY"
        )
    if not dates.is_monotonic_increasing or dates.duplicated().any():
        row = int(np.flatnonzero(np.diff(dates.to_numpy()) <= np.timedelta64(0))[0]) + 1
        raise ValueError(
            f"{path.name}: dates are not strictly increasing at row {row} "
            f"({raw['datum'].iloc[row - 1]} then {raw['datum'].iloc[row]})"
        )
    values = raw[list(ATC_GROUPS)].apply(pd.to_numeric, errors="coerce")
    if values.isna().any().any():
        col = values.columns[values.isna().any()][0]
        row = int(np.flatnonzero(values[col].isna())[0])
        raise ValueError(
            f"{path.name}: {col} at row {row} = {raw[col].iloc[row]!r} is not a number"
        )
    if (values < 0).any().any():
        col = values.columns[(values < 0).any()][0]
        row = int(np.flatnonzero(values[col] < 0)[0])
        raise ValueError(f"{path.name}: {col} at row {row} = {values[col].iloc[row]!r} is negative")
    frame = values.astype(np.float64)
    frame.index = pd.DatetimeIndex(dates, name="date")
    return frame


def load_pharma_sales(freq: str = "weekly") -> pd.DataFrame:
    """Units sold per week (``"weekly"``) or day (``"daily"``) of the eight ATC groups.

    Weekly rows are weeks ending on Sunday; the first week of the file, which covers only four
    days, is dropped, leaving 299 full weeks.
    """
    files = {"weekly": ("salesweekly.csv", ","), "daily": ("salesdaily.csv", ";")}
    if freq not in files:
        raise ValueError(f"freq = {freq!r}; expected one of {sorted(files)}")
    name, sep = files[freq]
    with resources.as_file(resources.files(__name__) / name) as path:
        frame = read_sales_csv(path, sep=sep)
    if freq == "weekly":
        daily_start = pd.Timestamp("2014-01-02")  # first day of the daily file
        frame = frame[frame.index - pd.Timedelta(days=6) >= daily_start]
    return frame
