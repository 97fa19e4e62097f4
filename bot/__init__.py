"""Switchboard's chat side: adapters, pipeline, memory, admin commands, settings, CLI."""
