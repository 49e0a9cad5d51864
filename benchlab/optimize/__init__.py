"""Variant recipes and their builders: recipes.py (catalogue), build.py (cache and build loop), tflite.py, coreml.py."""
