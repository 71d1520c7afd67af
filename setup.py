"""bgsplit_tf's metadata, dependencies, extras and console scripts live in pyproject.toml (PEP 621);
this file lets tools that still call setup.py build it the same way."""

from setuptools import setup

setup()
