"""Measuring models on real photos: photo sets (real_photos.py), evaluation (evaluate.py),
test-time batch-norm adaptation (adapt.py), the ablation table (ablate.py) with its
background-leakage audit (background_audit.py), and the figures (plots.py)."""
