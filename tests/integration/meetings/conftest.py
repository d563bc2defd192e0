"""Makes the fixtures of ``tests.support.meetings`` available to the joint-meetings tests."""

from tests.support.meetings import clock, demo_snap, settings, sink, staff

__all__ = ["clock", "demo_snap", "settings", "sink", "staff"]
