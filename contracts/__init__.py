"""Data contracts shared by every part of LEAIM.

One module per major version; a published version is never edited, additive changes only add
optional fields. This package imports nothing else of the project.
"""
