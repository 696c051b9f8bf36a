"""The delivery benchmark: the whole pipeline as ``make run`` starts it, against baselines.

``python -m bench`` (``make bench``) runs the pipeline, a ceiling without durability and a
Temporal floor of no-op activities against one verifying receiver, and writes the results
(JSON, a chart and ``docs/benchmarks.md``).
"""
