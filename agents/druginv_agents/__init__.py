"""druginv_agents: DQN (the paper's DRLD) and PPO for the DR2O envs, in PyTorch.

>>> import druginv_agents
>>> policy = druginv_agents.load("runs/ppo/best.pt")          # any checkpoint
>>> policy = druginv_agents.load_pretrained("ppo-paper-70")   # shipped with the package
>>> policy.env_id, policy.env_kwargs                           # what it was trained for

Training: ``druginv_agents.ppo.train(PPOConfig(...))`` and ``druginv_agents.dqn.train(...)``,
or ``druginv train ppo|dqn`` on the command line.

Importing the package does not import torch: ``load`` and ``AgentPolicy`` are imported on
first use. That is what lets ``druginv_gym`` load this package's registry plugin
(:mod:`druginv_agents.plugin`) for every command, in installs without torch too, where the
agents are then listed but skipped with a note.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from druginv_agents.policy import AgentPolicy, load

__all__ = ["AgentPolicy", "list_pretrained", "load", "load_pretrained"]


def __getattr__(name: str) -> Any:
    if name in ("AgentPolicy", "load"):
        from druginv_agents import policy

        return getattr(policy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def list_pretrained() -> list[str]:
    """Names of the checkpoints shipped with the package (``"ppo-paper-70"``, ...)."""
    folder = resources.files(__name__) / "pretrained"
    return sorted(Path(p.name).stem for p in folder.iterdir() if p.name.endswith(".pt"))


def load_pretrained(name: str) -> AgentPolicy:
    """A shipped policy by name; ``ValueError`` listing the available ones otherwise."""
    available = list_pretrained()
    if name not in available:
        raise ValueError(f"no pretrained agent {name!r}; available: {available}")
    from druginv_agents.policy import load

    with resources.as_file(resources.files(__name__) / "pretrained" / f"{name}.pt") as path:
        return load(path)
