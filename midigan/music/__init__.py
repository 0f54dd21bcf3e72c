"""The music core: Score, theory names, the melody rule, harmony and key estimation."""
