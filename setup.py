"""Installs eucad; everything declarative lives in setup.cfg."""
from setuptools import setup

setup()
