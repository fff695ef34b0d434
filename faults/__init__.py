"""The fault scenarios (`make faults`): workers, a broker replica and PostgreSQL taken away
mid-drain, and a burst beyond the in-flight bound, with every job counted. See README.md."""
