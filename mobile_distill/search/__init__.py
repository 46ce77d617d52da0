"""Search stage: the smallest, fastest student that meets a phone's budget, found for the user.

Given a budget (batch-1 latency on a target at a thread count and length, file size, accuracy lost
against the teacher) and a time limit, over a space of students (`space`):

1. Estimate, cheaply: every candidate is built untrained (pruned and trimmed as it would be),
   exported at every precision, and timed in the target's own runtime; the file size is the
   file's. Latency and size do not depend on the trained values, so what does not fit now never
   will, and it is never trained.
2. Train what fits, largest first (the likeliest to keep the accuracy): distillation from the
   teacher, stopped early when validation accuracy, after half the training, is far under the
   floor; stopped at the time limit at its last checkpoint (a rerun resumes it).
3. Measure what trained: each fitting artifact exported and run on the test split in its own
   runtime (accuracy, agreement and gate 2 against the student, as bench does), timed again.

Every estimate and every finished candidate is cached under OUTPUT (keyed by everything that decides
it), so a rerun, or a run killed halfway, redoes nothing. The report (`report`): the Pareto front of
accuracy, latency and size over every passing artifact, as a table and a plot, and the chosen
artifact: the most accurate one inside the budget (the fastest among equals).
"""

from .loop import SearchResult, search

__all__ = ["SearchResult", "search"]
