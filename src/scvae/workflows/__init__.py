"""Orchestration: each module composes the floors below it into one of scvae's tasks.

``train`` (a data set to a run folder), ``evaluate`` (a run folder to result folders),
``analyse`` (a data set to analysis files), ``launch`` (several local training
processes) and ``estimators`` (the user-facing model classes). Nothing below this
package imports from it.
"""
