"""Network definitions and weight handling for LooksLike."""
