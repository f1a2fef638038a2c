"""Networks shared by every drug: one function of (a drug's features, the global features).

A DR2O observation is ``N * F`` per-drug features (drug-major) followed by ``G`` global ones.
:func:`split_obs` turns a batch ``(B, N*F + G)`` into ``(B, N, F + G)`` rows, each a drug's
features with the globals appended; every network below applies the same weights to every row,
so one model serves 30, 50, 70 or 500 drugs.
"""

from __future__ import annotations

import torch
from torch import nn


def split_obs(obs: torch.Tensor, n_drug_features: int, n_global_features: int) -> torch.Tensor:
    """``(B, N*F + G)`` -> ``(B, N, F + G)``: each drug's row with the globals appended."""
    b, d = obs.shape
    n = (d - n_global_features) // n_drug_features
    if n * n_drug_features + n_global_features != d or n < 1:
        raise ValueError(
            f"observation of size {d} does not split into N x {n_drug_features} drug features "
            f"+ {n_global_features} globals"
        )
    drugs = obs[:, : n * n_drug_features].reshape(b, n, n_drug_features)
    glob = obs[:, n * n_drug_features :].unsqueeze(1).expand(b, n, n_global_features)
    return torch.cat([drugs, glob], dim=-1)


def mlp(sizes: list[int], act: type[nn.Module] = nn.Tanh, out_gain: float = 1.0) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        lin = nn.Linear(sizes[k], sizes[k + 1])
        last = k == len(sizes) - 2
        nn.init.orthogonal_(lin.weight, out_gain if last else 2**0.5)
        nn.init.zeros_(lin.bias)
        layers.append(lin)
        if not last:
            layers.append(act())
    return nn.Sequential(*layers)


class PerDrugActorCritic(nn.Module):
    """PPO's policy and value, both per drug.

    Actor: row -> mean of a Gaussian over the logit of the order fraction (the env action is
    ``sigmoid(u)``); one learned log-std shared by all drugs. Critic: row -> the value of that
    drug's own future cost (the advantage of each drug's action uses its own cost).
    """

    def __init__(self, n_drug_features: int, n_global_features: int, hidden: int = 64) -> None:
        super().__init__()
        self.n_f, self.n_g = n_drug_features, n_global_features
        width = n_drug_features + n_global_features
        self.actor = mlp([width, hidden, hidden, 1], out_gain=0.01)
        # Start near ordering a quarter of the refill range (sigmoid(-1.1) = 0.25): with the
        # scenarios' refill top of 4 x mean demand that is about the mean demand, instead of
        # twice it at sigmoid(0).
        nn.init.constant_(self.actor[-1].bias, -1.1)
        self.critic = mlp([width, hidden, hidden, 1], out_gain=1.0)
        self.log_std = nn.Parameter(torch.full((1,), -0.5))

    def rows(self, obs: torch.Tensor) -> torch.Tensor:
        return split_obs(obs, self.n_f, self.n_g)

    def mean(self, rows: torch.Tensor) -> torch.Tensor:
        """(B, N) mean logits."""
        return self.actor(rows).squeeze(-1)

    def value(self, rows: torch.Tensor) -> torch.Tensor:
        """(B, N) per-drug values."""
        return self.critic(rows).squeeze(-1)


class PerDrugQNetwork(nn.Module):
    """DRLD's Q-network: a drug's row -> Q-values over its refill levels."""

    def __init__(
        self, n_drug_features: int, n_global_features: int, n_levels: int, hidden: int = 64
    ) -> None:
        super().__init__()
        self.n_f, self.n_g = n_drug_features, n_global_features
        self.q = mlp([n_drug_features + n_global_features, hidden, hidden, n_levels], nn.ReLU)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self.q(rows)
