"""A photo's faces: decode, detect, choose, crop, embed (the one per-photo path of serving and builds)."""
