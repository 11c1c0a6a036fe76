"""The training loop shared by the align stages and policy training."""
