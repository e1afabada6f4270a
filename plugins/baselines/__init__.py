"""Built-in baselines: feature maps that need no pretraining (handcrafted, MiniRocket)."""
