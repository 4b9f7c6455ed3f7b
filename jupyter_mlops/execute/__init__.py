"""Execution: papermill runs of whole notebooks and single functions, sweeps, executors.

- ``engine``: the ``mlops`` papermill engine (a warm, forking kernel process per run)
- ``params``: parameter values checked against the Plan before anything starts
- ``runner``: one tracked run (staging, papermill, metrics, artifacts, status)
- ``sweep``: grid, list and random sweeps over parameter values
"""
