"""Variant recipes and their builders: recipes/ (one module per family and the registry), build.py (the
build loop, failures included), cache.py (content-hash keys, locks), flatbuffer.py (.tflite rewrites
before quantizing), source.py (the model a suite names)."""
