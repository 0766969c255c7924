"""Measurement and judgement of the claims of arXiv 2510.25262 (IBNorm) and 2511.00958 (capacity control)."""
