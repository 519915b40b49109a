"""MusiScene: scene captions for music catalogs."""

__version__ = "0.1.0"
