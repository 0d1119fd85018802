"""Serving the exported SavedModel: TF Serving's REST API (app, rest), its model folder
(repository) and the `gmcml-tf predict` client."""
