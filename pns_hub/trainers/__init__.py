"""Trainers and their configs: the reverse-RL generator (``grpo``), SFT warm-up (``sft``), DPO on the pairs
(``dpo``), their script arguments and configs (``pns_configs``); GLOW weighted SFT (``glow``) and PSR/NSR/W-REINFORCE
RL (``nsr``) with their configs (``configs``). Import the submodules directly; they pull in TRL."""
