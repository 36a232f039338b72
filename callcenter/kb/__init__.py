"""Knowledge-base domain of the call center: HTTP search endpoint and CLI commands."""
