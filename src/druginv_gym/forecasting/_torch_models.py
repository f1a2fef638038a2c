"""PyTorch modules of the neural forecasters (imported only when one is built)."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """window -> hidden -> hidden -> max_horizon, ReLU. ``layers`` lists the Linear layers
    bottom-up, so transfer learning can freeze the lower ones."""

    def __init__(self, window: int, max_horizon: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [nn.Linear(window, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, max_horizon)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (batch, window)
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)


class LSTM(nn.Module):
    """One-layer LSTM over the window, then a dense head to ``max_horizon`` outputs."""

    def __init__(self, window: int, max_horizon: int, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, max_horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x.unsqueeze(-1))
        return self.head(out[:, -1])


class CNNLSTM(nn.Module):
    """Conv1d -> ReLU -> max-pool -> LSTM -> dense, as in the CNN-LSTM demand literature."""

    def __init__(
        self, window: int, max_horizon: int, hidden: int, filters: int = 32, kernel: int = 3
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, filters, kernel_size=kernel, padding=kernel // 2)
        self.pool = nn.MaxPool1d(2, ceil_mode=True)
        self.lstm = nn.LSTM(filters, hidden, batch_first=True)
        self.head = nn.Linear(hidden, max_horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.pool(torch.relu(self.conv(x.unsqueeze(1))))  # (batch, filters, window/2)
        out, _ = self.lstm(z.transpose(1, 2))
        return self.head(out[:, -1])


ARCHITECTURES = {"mlp": MLP, "lstm": LSTM, "cnn_lstm": CNNLSTM}
