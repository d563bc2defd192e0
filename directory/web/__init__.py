"""The web face of the directory: aiohttp application, pages, JSON API, sessions and CSRF."""
