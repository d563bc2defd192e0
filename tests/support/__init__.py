"""Shared test support: the one mail sink, clock, settings builder, web client, app factory and server helpers."""
