"""RLlib's PPO (new API stack) on DrugRefill-v0 with remote env runners, scored by druginv_gym.

Run in an environment with RLlib (it pins its own Gymnasium): ``make rllib-env`` makes one,
``.venv-rllib``. ``python docs/examples/rllib_ppo.py --iterations 20`` trains for longer;
``--save PATH`` writes a checkpoint that ``druginv evaluate rllib:PATH`` scores.
"""

import argparse
import os

from ray.rllib.algorithms.ppo import PPOConfig

import druginv_gym
from druginv_gym.adapters import as_policy

p = argparse.ArgumentParser()
p.add_argument("--iterations", type=int, default=2)
p.add_argument("--n-drugs", type=int, default=10)
p.add_argument("--save", default=None, help="folder for a checkpoint (druginv ... rllib:PATH)")
args = p.parse_args()
env_config = {"n_drugs": args.n_drugs, "horizon": 30}
config = (
    PPOConfig()
    # the env runners are other processes: the module:id form imports the package there
    .environment("druginv_gym:DrugRefill-v0", env_config=env_config)
    .env_runners(num_env_runners=2, num_envs_per_env_runner=1)
    .training(train_batch_size_per_learner=600, minibatch_size=150, num_epochs=2)
)
algo = config.build_algo()
try:
    for i in range(args.iterations):
        result = algo.train()
        ret = result["env_runners"].get("episode_return_mean", float("nan"))
        print(f"iteration {i + 1}: episode return {ret:.3f}")
    # the trained module as a druginv_gym policy, scored on the library's held-out seeds
    import gymnasium as gym

    env = gym.make("DrugRefill-v0", **env_config)
    table = druginv_gym.evaluate(env, as_policy(algo), n_episodes=3, seed=0)
    print("RLlib PPO, mean refilling cost:", round(float(table.total_cost.mean())))
    if args.save:  # `druginv evaluate rllib:PATH` and `druginv benchmark --policies` read it
        algo.save(os.path.abspath(args.save))
finally:
    algo.stop()
