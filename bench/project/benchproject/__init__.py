"""The Django project both Django-based servers of the benchmark run.

One project, two settings modules, so djws and Channels see the same database,
the same middleware list, the same session engine and the same user.
"""
