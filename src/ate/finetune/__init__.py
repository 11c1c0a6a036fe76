"""Policy pre-training and fine-tuning, with or without the Steer guidance."""
