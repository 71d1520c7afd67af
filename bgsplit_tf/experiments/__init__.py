"""Experiments made of many runs: the paper's comparison of imbalance methods (comparison), the regime
map of where Background Splitting beats tuned fine-tuning (regime_map), and the embedded benchmark's
teachers (teacher_pretraining)."""
