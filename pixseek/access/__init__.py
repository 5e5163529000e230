"""Who may use the API and what it may reach: API keys and scopes, rate limits, ingest sources."""
