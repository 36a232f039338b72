"""FAQ data and search, shared by the IVR, the agent console and the HTTP API."""
