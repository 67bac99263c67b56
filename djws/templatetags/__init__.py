"""Template tags of djws: ``{% load websockets %}``."""

__all__: list[str] = []
