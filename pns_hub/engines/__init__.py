"""Sampling engines: the prompt template and batched decode loop (``generation``), OpenVINO GenAI for fixed models
(``openvino``), which engine serves a request (``backends``), and the dense LM head used inside trainers
(``lm_head``)."""
