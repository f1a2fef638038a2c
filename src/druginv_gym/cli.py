"""The ``druginv`` command line.

Examples::

    druginv train ppo --scenario paper --n-drugs 70 --total-steps 600000 --logdir runs/ppo-70
    druginv train dqn --scenario paper --n-drugs 30 --total-steps 400000 --logdir runs/dqn-30
    druginv train dqn --scenario paper --n-drugs 70 --set gamma=0.9 --set learning_rate=1e-3
    druginv train ppo --resume runs/ppo-70/last.pt --total-steps 900000 --logdir runs/ppo-70

User errors (a bad value, a missing file) print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

EXAMPLES = __doc__.split("Examples::", 1)[1].split("User errors")[0]


class UserError(Exception):
    """A problem with what the user asked for: reported in one line, exit code 2."""


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
        return value

    return parse


def _env_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    from druginv_gym.scenarios import make_scenario

    kw: dict[str, Any] = {"scenario": args.scenario}
    if args.n_drugs is not None:
        kw["n_drugs"] = args.n_drugs
    if args.horizon is not None:
        kw["horizon"] = args.horizon
    try:
        make_scenario(args.scenario, n_drugs=args.n_drugs, horizon=args.horizon)  # fail fast
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return kw


def _set_overrides(config_cls: type, items: list[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` pairs as typed hyper-parameters (VALUE read as JSON)."""
    defaults = {f.name: f.default for f in dataclasses.fields(config_cls) if f.name != "env_kwargs"}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or key not in defaults:
            raise UserError(
                f"--set {item!r}: expected KEY=VALUE with KEY one of {sorted(defaults)}"
            )
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        default = defaults[key]
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if None not in (default, value) and type(value) is not type(default):
            raise UserError(
                f"--set {item!r}: {key} takes a {type(default).__name__}, not {value!r}"
            )
        out[key] = value
    return out


def cmd_train(args: argparse.Namespace) -> int:
    try:
        from druginv_agents import dqn, ppo
    except ImportError as exc:
        raise UserError(
            f"training needs the agents' dependencies ({exc}); install 'druginv-gym[torch]'"
        ) from None
    module = {"ppo": ppo, "dqn": dqn}[args.algo]
    config_cls = ppo.PPOConfig if args.algo == "ppo" else dqn.DQNConfig
    overrides: dict[str, Any] = {
        "env_kwargs": _env_kwargs(args),
        "seed": args.seed,
        "device": args.device,
    }
    if args.total_steps is not None:
        overrides["total_steps"] = args.total_steps
    if args.num_envs is not None:
        overrides["num_envs"] = args.num_envs
    if args.shortage_penalty is not None:
        overrides["shortage_penalty"] = args.shortage_penalty
    overrides.update(_set_overrides(config_cls, args.set or []))
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UserError(f"--device {args.device}: no CUDA device is available")
    try:
        cfg = config_cls(**overrides)
    except (ValueError, TypeError) as exc:
        raise UserError(f"bad hyper-parameter: {exc}") from None
    if args.resume is not None and not args.resume.is_file():
        raise UserError(f"--resume {args.resume}: no such checkpoint file")
    try:
        args.logdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--logdir {args.logdir}: cannot create it ({exc.strerror})") from None
    policy = module.train(cfg, logdir=args.logdir, resume=args.resume, progress=None)
    what = "cost + shortage penalty" if cfg.shortage_penalty > 0 else "cost"
    print(
        f"{args.algo}: best validation {what} {policy.meta['best_eval_cost']:,.0f} USD after "
        f"{policy.meta['global_step']:,} steps; checkpoints in {args.logdir}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from pathlib import Path

    parser = argparse.ArgumentParser(
        prog="druginv",
        description="Hospital drug refilling (DR2O): environments, baselines, agents.",
        epilog="examples:" + EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser(
        "train",
        help="train a DQN (DRLD) or PPO agent",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:" + EXAMPLES,
    )
    train.add_argument("algo", choices=["ppo", "dqn"])
    train.add_argument("--scenario", default="paper", help="scenario name (default: paper)")
    train.add_argument("--n-drugs", type=_positive(int), default=None)
    train.add_argument("--horizon", type=_positive(int), default=None)
    train.add_argument(
        "--total-steps",
        type=_positive(int),
        default=None,
        help="env steps (PPO: slots x envs; DQN: drug decisions x envs)",
    )
    train.add_argument("--num-envs", type=_positive(int), default=None)
    train.add_argument(
        "--shortage-penalty",
        type=float,
        default=None,
        help="training-only cost per drug-slot below C_lo, in per-drug reward-scale units",
    )
    train.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="any other hyper-parameter of PPOConfig/DQNConfig (repeatable), e.g. gamma=0.9",
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    train.add_argument("--logdir", type=Path, default=Path("runs"))
    train.add_argument("--resume", type=Path, default=None, help="a last.pt to continue from")
    train.set_defaults(func=cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"druginv: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("druginv: interrupted (the last checkpoint is kept)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
