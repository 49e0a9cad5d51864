"""Decisions from a run's results: what to ship and whether a variant is within the accuracy budget.

Between results and the views: `pick` holds the accuracy budget (`budget_judgement`), the pick
and its tie rule (`annotate`), and the per-round values the tie rule pairs (`round_values`). The
report, the per-tier plan, `benchlab check` and the nightly compare all read these rules from here;
the views only render what they decide.
"""
