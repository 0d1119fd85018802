"""gmcml_tf: train GM-CML (Wang & Deng, arXiv 1705.08590) on rendered images."""

__version__ = "0.1.0"
