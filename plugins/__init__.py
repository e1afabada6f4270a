"""ssl-ecg's built-in plugins. Each module registers itself through an entry point in
ssl-ecg's pyproject.toml, exactly as a third-party plugin does; none imports another."""
