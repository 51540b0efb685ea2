"""Trainers for learning from negative samples: GLOW weighted SFT and PSR/NSR/W-REINFORCE RL (TRL subclasses).

Import the submodules (``pns_hub.trainers.glow``, ``.nsr``, ``.configs``) directly; they pull in TRL.
"""
