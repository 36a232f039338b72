"""The web console (Simplified Chinese), served by the app from static files: no CDN."""
