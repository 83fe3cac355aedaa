"""Reports: leaderboards and breakdowns of finished runs."""
