"""`python -m gmcml_tf.cli ...`, the same as `gmcml-tf ...`."""
import sys

from gmcml_tf.cli.main import main

sys.exit(main())
