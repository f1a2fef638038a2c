"""druginv_agents: DQN (the paper's DRLD) and PPO for the DR2O envs, in PyTorch.

>>> import druginv_agents
>>> policy = druginv_agents.load("runs/ppo/best.pt")          # any checkpoint
>>> policy = druginv_agents.load_pretrained("ppo-paper-70")   # shipped with the package
>>> policy.env_id, policy.env_kwargs                           # what it was trained for

Training: ``druginv_agents.ppo.train(PPOConfig(...))`` and ``druginv_agents.dqn.train(...)``,
or ``druginv train ppo|dqn`` on the command line.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from druginv_agents.policy import AgentPolicy, load

__all__ = ["AgentPolicy", "list_pretrained", "load", "load_pretrained"]


def list_pretrained() -> list[str]:
    """Names of the checkpoints shipped with the package (``"ppo-paper-70"``, ...)."""
    folder = resources.files(__name__) / "pretrained"
    return sorted(Path(p.name).stem for p in folder.iterdir() if p.name.endswith(".pt"))


def load_pretrained(name: str) -> AgentPolicy:
    """A shipped policy by name; ``ValueError`` listing the available ones otherwise."""
    available = list_pretrained()
    if name not in available:
        raise ValueError(f"no pretrained agent {name!r}; available: {available}")
    with resources.as_file(resources.files(__name__) / "pretrained" / f"{name}.pt") as path:
        return load(path)
