"""Neural forecasters (PyTorch): MLP with transfer learning, LSTM, CNN-LSTM.

All three learn a direct multi-step map from the last ``window`` values (12 by default) to the
next ``max_horizon`` values (3 by default), on sliding windows of every training series. Each
window is divided by its own mean (plus a small floor), so one model serves series of any
scale, which is what makes transfer between drug groups possible. Training holds out the last
``val_fraction`` of each series' windows (chronologically) for early stopping and keeps the
best weights. Torch is imported only when a model is built; training is seeded and
deterministic on the CPU; ``save``/``load`` use ``state_dict`` plus a JSON config, loaded with
``weights_only=True`` (no code runs from a checkpoint).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from druginv_gym.forecasting.base import check_history, check_horizon, check_series
from druginv_gym.io import atomic_write, load_torch_payload
from druginv_gym.progress import progress_bar

__all__ = [
    "CNNLSTMForecaster",
    "LSTMForecaster",
    "MLPForecaster",
    "NeuralConfig",
    "NeuralForecaster",
    "load_forecaster",
]

_FORMAT = "druginv_gym.forecaster"
_VERSION = 1
_SCALE_FLOOR = 1e-3  # units: windows of (near) zero demand are not blown up


@dataclass(frozen=True)
class NeuralConfig:
    """Hyper-parameters of a neural forecaster (saved with its weights)."""

    window: int = 12
    max_horizon: int = 3
    hidden: int = 64
    epochs: int = 300
    batch_size: int = 64
    lr: float = 1e-3
    patience: int = 25
    val_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("window", "max_horizon", "hidden", "epochs", "batch_size", "patience"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} = {v!r} must be an integer >= 1")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr = {self.lr!r} must be > 0")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction = {self.val_fraction!r} must be in (0, 1)")


def _windows(data: np.ndarray, window: int, horizon: int, val_fraction: float):
    """Sliding windows of every series, split chronologically per series.

    Returns ``(x_train, y_train, x_val, y_val)``, inputs ``(k, window)`` and targets
    ``(k, horizon)``, already divided by each window's scale.
    """
    xs_t, ys_t, xs_v, ys_v = [], [], [], []
    for y in data:
        count = len(y) - window - horizon + 1
        idx = np.arange(count)[:, None]
        x = y[idx + np.arange(window)]
        t = y[idx + window + np.arange(horizon)]
        scale = np.maximum(x.mean(axis=1, keepdims=True), _SCALE_FLOOR)
        x, t = x / scale, t / scale
        n_val = max(1, round(val_fraction * count))
        xs_t.append(x[:-n_val])
        ys_t.append(t[:-n_val])
        xs_v.append(x[-n_val:])
        ys_v.append(t[-n_val:])
    return (np.concatenate(a) for a in (xs_t, ys_t, xs_v, ys_v))


class NeuralForecaster:
    """Base of the neural forecasters; subclasses name their architecture."""

    architecture: ClassVar[str] = ""

    def __init__(self, progress: bool | None = None, **config: Any) -> None:
        self.config = NeuralConfig(**config)
        self.progress = progress
        self.model = None
        self.history_: list[dict[str, float]] = []  # per-epoch losses of the last training

    # ------------------------------------------------------------------ model
    @property
    def min_history(self) -> int:
        return self.config.window

    def _build(self):
        import torch

        from druginv_gym.forecasting._torch_models import ARCHITECTURES

        torch.manual_seed(self.config.seed)
        c = self.config
        return ARCHITECTURES[self.architecture](c.window, c.max_horizon, c.hidden).double()

    @property
    def fitted(self) -> bool:
        return self.model is not None

    # ------------------------------------------------------------------ training
    def fit(self, series: np.ndarray) -> NeuralForecaster:
        """Train from scratch on ``series`` ``(n_series, length)``."""
        self.model = self._build()
        self._train(series, self.model.parameters(), desc=f"{self.architecture} fit")
        return self

    def _train(self, series: np.ndarray, params, desc: str, epochs: int | None = None) -> None:
        import torch

        c = self.config
        need = c.window + c.max_horizon + 1
        data = check_series(series, "series", need)
        x_t, y_t, x_v, y_v = _windows(data, c.window, c.max_horizon, c.val_fraction)
        if len(x_t) == 0:
            raise ValueError(
                f"series of length {data.shape[1]} leave no training windows after the "
                f"validation split; use longer series or a smaller val_fraction"
            )
        x_t, y_t, x_v, y_v = (torch.from_numpy(a) for a in (x_t, y_t, x_v, y_v))
        params = [p for p in params if p.requires_grad]
        opt = torch.optim.Adam(params, lr=c.lr)
        gen = torch.Generator().manual_seed(c.seed)
        model = self.model
        best, best_state, stale = float("inf"), None, 0
        self.history_ = []
        bar = progress_bar(
            range(epochs or c.epochs), desc=desc, unit="epochs", enabled=self.progress, leave=False
        )
        for _ in bar:
            model.train()
            order = torch.randperm(len(x_t), generator=gen)
            total = 0.0
            for start in range(0, len(x_t), c.batch_size):
                b = order[start : start + c.batch_size]
                opt.zero_grad()
                loss = torch.mean((model(x_t[b]) - y_t[b]) ** 2)
                loss.backward()
                opt.step()
                total += loss.item() * len(b)
            model.eval()
            with torch.no_grad():
                val = float(torch.mean((model(x_v) - y_v) ** 2))
            self.history_.append({"train_loss": total / len(x_t), "val_loss": val})
            bar.set_postfix(val=f"{val:.4f}")
            if val < best - 1e-12:
                best, stale = val, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
                if stale >= c.patience:
                    break
        bar.close()
        model.load_state_dict(best_state)
        model.eval()

    # ------------------------------------------------------------------ prediction
    def predict(self, history: np.ndarray, horizon: int) -> np.ndarray:
        if not self.fitted:
            raise RuntimeError(f"{type(self).__name__} is not trained: call fit() or load()")
        import torch

        c = self.config
        hist = check_history(history, c.window)
        h = check_horizon(horizon)
        window = hist[:, -c.window :].copy()
        out = []
        with torch.no_grad():
            while sum(o.shape[1] for o in out) < h:
                scale = np.maximum(window.mean(axis=1, keepdims=True), _SCALE_FLOOR)
                pred = self.model(torch.from_numpy(window / scale)).numpy() * scale
                pred = np.maximum(pred, 0.0)
                out.append(pred)
                # Beyond max_horizon: feed the forecasts back (recursive strategy).
                window = np.concatenate([window, pred], axis=1)[:, -c.window :]
        return np.concatenate(out, axis=1)[:, :h]

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write weights and config to ``path`` atomically (temp file + rename)."""
        if not self.fitted:
            raise RuntimeError("nothing to save: the forecaster is not trained")
        import torch

        path = Path(path)
        payload = {
            "format": _FORMAT,
            "version": _VERSION,
            "architecture": self.architecture,
            "config": json.dumps(asdict(self.config)),
            "state_dict": self.model.state_dict(),
        }
        atomic_write(path, lambda tmp: torch.save(payload, tmp))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> NeuralForecaster:
        """Load a forecaster saved by :meth:`save`; raises ``ValueError`` for anything else.

        On a subclass, the checkpoint's architecture must match it.
        """
        forecaster = load_forecaster(path)
        if cls is not NeuralForecaster and not isinstance(forecaster, cls):
            raise ValueError(
                f"{path}: checkpoint holds a {forecaster.architecture!r} forecaster, "
                f"not {cls.architecture!r}"
            )
        return forecaster


def load_forecaster(path: str | os.PathLike) -> NeuralForecaster:
    """Load any neural forecaster saved with ``save`` (the architecture is read from the file)."""

    payload = load_torch_payload(path, _FORMAT, _VERSION, "forecaster")
    classes = {c.architecture: c for c in (MLPForecaster, LSTMForecaster, CNNLSTMForecaster)}
    arch = payload.get("architecture")
    if arch not in classes:
        raise ValueError(f"{path}: unknown architecture {arch!r}; known: {sorted(classes)}")
    try:
        config = json.loads(payload["config"])
        forecaster = classes[arch](**config)
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: invalid forecaster config ({exc})") from None
    forecaster.model = forecaster._build()
    try:
        forecaster.model.load_state_dict(payload["state_dict"])
    except (KeyError, RuntimeError) as exc:
        raise ValueError(
            f"{path}: weights do not match the {arch!r} architecture ({exc})"
        ) from None
    forecaster.model.eval()
    return forecaster


class MLPForecaster(NeuralForecaster):
    """A two-hidden-layer MLP, with transfer learning: ``pretrain`` then ``fine_tune``.

    ``pretrain(series)`` trains the base model on source series (e.g. other drug groups);
    ``fine_tune(series, freeze=k)`` freezes the ``k`` lowest of its 3 linear layers and trains
    the rest on the target series (default ``freeze=2``: only the output layer adapts).
    """

    architecture = "mlp"

    def pretrain(self, series: np.ndarray) -> MLPForecaster:
        """Train the base model from scratch (same as :meth:`fit`)."""
        return self.fit(series)

    def fine_tune(
        self, series: np.ndarray, freeze: int = 2, epochs: int | None = None
    ) -> MLPForecaster:
        if not self.fitted:
            raise RuntimeError("fine_tune needs a pretrained model: call pretrain() or load()")
        layers = self.model.layers
        if isinstance(freeze, bool) or not isinstance(freeze, (int, np.integer)):
            raise ValueError(f"freeze = {freeze!r} must be an integer in [0, {len(layers) - 1}]")
        if not 0 <= freeze < len(layers):
            raise ValueError(f"freeze = {freeze!r} must be in [0, {len(layers) - 1}]")
        for k, layer in enumerate(layers):
            for p in layer.parameters():
                p.requires_grad_(k >= freeze)
        try:
            self._train(series, self.model.parameters(), "mlp fine-tune", epochs)
        finally:
            for p in self.model.parameters():
                p.requires_grad_(True)
        return self


class LSTMForecaster(NeuralForecaster):
    """A one-layer LSTM over the input window and a dense head."""

    architecture = "lstm"


class CNNLSTMForecaster(NeuralForecaster):
    """Conv1d -> ReLU -> max-pool -> LSTM -> dense over the input window."""

    architecture = "cnn_lstm"
