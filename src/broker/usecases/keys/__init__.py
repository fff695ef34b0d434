"""The operators' key management: create, list and revoke API keys."""
