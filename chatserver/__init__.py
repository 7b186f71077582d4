"""The live-chat support hub."""
