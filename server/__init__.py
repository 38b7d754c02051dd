"""The demo API: a small users service whose traffic the recorder captures."""

from server.app import create_app

__all__ = ["create_app"]
