"""pns-hub: teach LLMs math reasoning from negative samples (PNS, GLOW, NSR) on the Hugging Face stack."""

__version__ = "0.1.0"
