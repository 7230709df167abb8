"""What a sweep or a run found: the summary tables, their statistics, ``report.html`` and the study report."""
