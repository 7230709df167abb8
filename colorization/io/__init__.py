"""Files: images (decode, discover, write), checkpoints as files, test pictures, JSON written atomically."""
