"""The domain: jobs, their states and transitions, retry policy, leases, queue rules, errors.
Imports nothing but the standard library."""
