"""Built-in loggers: where a run's parameters, losses and scores also go."""
