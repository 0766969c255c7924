"""Training experiments: offline data with known structure, small architectures with a ``norm`` argument,
and a deterministic trainer with per-step statistics, checkpoints and resume."""
