"""Rewards: the reward model (scorer and training, ``reward_model``), the CoT judge (``judge``), and TRL reward
functions with the one PNS composite (``functions``)."""
