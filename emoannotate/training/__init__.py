"""Training and evaluation: the feature cache, batches, the fit loop, the reports, the commands.

Dependencies point one way: `commands` -> `fit` and `evaluate` -> `batch` -> `cache` ->
`extract`; `evaluate` never imports `fit`.
"""
