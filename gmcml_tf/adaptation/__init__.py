"""`gmcml-tf adapt`: a trained run learns from a folder of unlabelled photos (docs/adaptation.md).

photos.py         the photo folder: listing, content hashes, the labelled holdout split
pseudo_labels.py  pure numpy: clustering-refined pseudo-labels, class-balanced selection, collapse check
batchnorm.py      AdaBN: batch-norm statistics re-estimated on the photos
self_training.py  the training rounds: renders with labels + photos with pseudo-labels
runner.py         the new run folder: resume, records, the per-round lines
"""
