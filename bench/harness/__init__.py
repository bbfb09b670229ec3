"""The benchmark harness: the server process, the load generator, statistics, the direct-SQL
baselines and the results table (see bench/run.py)."""
