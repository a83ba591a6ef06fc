"""Backends: each turns a verified Function into something callable on numpy arrays."""
