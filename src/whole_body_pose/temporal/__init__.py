"""PoseBERT-style causal temporal refinement of body and hand poses (own code, trained on procedural motion)."""
