"""Template tags of djws: ``{% load websockets %}``."""
