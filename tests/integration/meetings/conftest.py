"""Makes the fixtures of ``meetings_support`` available to the joint-meetings tests."""

from meetings_support import clock, demo_snap, settings, sink

__all__ = ["clock", "demo_snap", "settings", "sink"]
