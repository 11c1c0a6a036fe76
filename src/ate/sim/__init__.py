"""Simulator wrappers and scripted experts (the ``sim`` extra); the library itself never
needs them."""
