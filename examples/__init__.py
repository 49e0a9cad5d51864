"""Example models for trying benchlab on shapes production models have (see production_models)."""
