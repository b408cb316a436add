"""Training and evaluation machinery shared by tools/train.py and tools/test.py."""
